"""Test doubles for the ports: time that moves only when a test says so."""

from dishka import Provider, Scope, provide

from domain.ports import Clock


class FakeClock(Clock):
    """A Clock standing still until `advance` is called."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


class ClockOverride(Provider):
    """Serve one given clock to the whole app."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(scope=Scope.APP)
        self._clock = clock

    @provide
    def clock(self) -> Clock:
        return self._clock
