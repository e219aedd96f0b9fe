"""What a job cost, across its stops and resumes: one record per process that advanced it.

A resumable job runs in several processes (SLURM time limits, preemption, a laptop closed overnight), and
each one's log is replaced by the next one's, so the cost of the whole job would be lost. Each process adds
one segment (when, where, from which phase and step to which, wall and CPU seconds) to the list that the
checkpoint carries, and the output file keeps the list and its sums (`tdlm.md.simulate`): what a sweep's
budget (`tdlm cost`) is checked against.
"""

from __future__ import annotations

import socket
import time
from datetime import datetime, timezone


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


class Segments:
    """The segments of earlier processes (from the checkpoint) and this process's, open until `upto`."""

    def __init__(self, earlier: list[dict] | None, phase: str, step: int):
        self.earlier = [dict(s) for s in earlier or []]
        self.start = (phase, step)
        self.wall0, self.cpu0 = time.time(), time.process_time()

    def upto(self, phase: str, step: int) -> list[dict]:
        """Every segment, this process's ending now at (phase, step)."""
        now = time.time()
        current = {
            "started": _utc(self.wall0),
            "ended": _utc(now),
            "host": socket.gethostname(),
            "from": f"{self.start[0]} {self.start[1]}",
            "to": f"{phase} {step}",
            "wall_s": round(now - self.wall0, 3),
            "cpu_s": round(time.process_time() - self.cpu0, 3),
        }
        return self.earlier + [current]


def totals(segments: list[dict]) -> dict[str, float]:
    """Wall and CPU seconds of all segments (the CPU time counts every thread of each process)."""
    return {
        "wall_seconds": round(sum(s["wall_s"] for s in segments), 3),
        "cpu_seconds": round(sum(s["cpu_s"] for s in segments), 3),
    }
