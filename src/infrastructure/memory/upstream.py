"""A stand-in for a slow remote service."""

from domain.ports import Clock, UpstreamPort


class SimulatedUpstream(UpstreamPort):
    """UpstreamPort that answers after `latency_s` of non-blocking waiting, like a slow HTTP API."""

    def __init__(self, clock: Clock, latency_s: float = 0.5) -> None:
        self._clock = clock
        self._latency_s = latency_s

    async def call(self) -> str:
        """ "ok", after the latency."""
        await self._clock.sleep(self._latency_s)
        return "ok"
