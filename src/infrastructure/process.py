"""The process's own lifecycle: notice a stop request (SIGTERM, SIGINT) without taking over its handling."""

import signal
import threading
from types import FrameType
from typing import Any

from domain.ports import ShutdownSignal

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class SignalShutdown(ShutdownSignal):
    """Set once SIGTERM or SIGINT arrives; the handler already installed (the server's) still runs after it."""

    def __init__(self) -> None:
        self._requested = False

    def requested(self) -> bool:
        """True from the first stop signal on."""
        return self._requested

    def install(self) -> None:
        """Chain in front of the current handlers; only the main thread may set signal handlers."""
        if threading.current_thread() is not threading.main_thread():
            return
        for number in STOP_SIGNALS:
            self._chain(number, signal.getsignal(number))

    def _chain(self, number: int, previous: Any) -> None:
        def handler(signum: int, frame: FrameType | None) -> None:
            self._requested = True
            if callable(previous):
                previous(signum, frame)
            elif previous == signal.SIG_DFL:
                signal.signal(signum, signal.SIG_DFL)
                signal.raise_signal(signum)

        signal.signal(number, handler)
