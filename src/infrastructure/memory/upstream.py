"""A stand-in for a slow remote service."""

import asyncio

from domain.ports import UpstreamPort


class SimulatedUpstream(UpstreamPort):
    """UpstreamPort that answers after `latency_s` of non-blocking waiting, like a slow HTTP API."""

    def __init__(self, latency_s: float = 0.5) -> None:
        self._latency_s = latency_s

    async def call(self) -> str:
        """ "ok", after the latency."""
        await asyncio.sleep(self._latency_s)
        return "ok"
