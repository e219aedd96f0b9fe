"""Periodic progress lines with rate and ETA, for jobs that run for hours."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("tdlm")


class Progress:
    def __init__(self, label: str, total: int, every_seconds: float, start: int = 0):
        self.label, self.total, self.every = label, total, every_seconds
        self.t0 = self.last = time.monotonic()
        self.start = start

    def due(self) -> bool:
        """Whether the next `update` writes a line (its interval has passed)."""
        return time.monotonic() - self.last >= self.every

    def update(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < self.every:
            return
        self.last = now
        rate = (done - self.start) / max(now - self.t0, 1e-9)
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        log.info(
            "%s: step %d/%d (%.1f%%), %.1f steps/s, ETA %s",
            self.label,
            done,
            self.total,
            100.0 * done / max(self.total, 1),
            rate,
            _hms(eta),
        )


def _hms(seconds: float) -> str:
    if seconds == float("inf"):
        return "unknown"
    s = int(seconds)
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"
