"""Stop signals (SLURM preemption or time limit, Ctrl-C) as a flag the run loop reads between steps.

A handler only records the signal: the loop finishes the step it is in, writes a checkpoint and stops
(tdlm.md.run.Interrupted), so a stop never leaves a half-updated state or a half-written file.
"""

from __future__ import annotations

import signal
import threading
from types import TracebackType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)


class SignalGuard:
    """`with SignalGuard() as guard:` records the latest stop signal in `guard.received` (None until
    one arrives) and puts the previous handlers back on exit.

    Signal handlers can only be installed from the main thread; elsewhere (thread pools, notebooks'
    background jobs) the guard installs nothing and `received` stays None: such a run has no stop handling.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def _request_stop(self, signum: int, frame: object) -> None:
        self.received = signum

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._request_stop) for sig in STOP_SIGNALS}
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
