"""Use cases reading the request metrics (this process's or every live process's), publishing this process's and
leaving the cluster on a clean stop."""

import asyncio
import logging
from dataclasses import dataclass
from typing import Literal

from domain.errors import InvalidInput, Unavailable
from domain.metrics import (
    EndpointState,
    EndpointSummary,
    MetricsReport,
    ProcessMetrics,
)
from domain.metrics_report import bucket_entries, by_endpoint, document, merge, summarize
from domain.ports import Clock, MetricsPort, MetricsSharePort

logger = logging.getLogger("perfshop.metrics")

Scope = Literal["local", "cluster"]

_WARN_EVERY_S = 60.0
# About a millisecond of merging and percentiles between two returns to the event loop.
SLICE_ENTRIES = 10_000


class ShareFaults:
    """Logs a fault of the metrics share as a WARNING at most once a minute, counting the ones held back."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._next = float("-inf")
        self._held = 0

    def warn(self, doing: str, error: Unavailable) -> None:
        """Note one fault; log it unless another was logged during the last minute."""
        now = self._clock()
        if now < self._next:
            self._held += 1
            return
        held, self._held, self._next = self._held, 0, now + _WARN_EVERY_S
        logger.warning("metrics share: %s failed: %s (%d more faults in the last minute)", doing, error, held)


@dataclass(frozen=True, slots=True)
class Coverage:
    """The processes' states a read covers, the scope it answers for, and why a cluster read fell back.

    A read of this process alone for the JSON document carries its endpoints' `summaries`, read from the live
    counts, and its request `rates`; its state then has no endpoints, and is never merged.
    """

    states: list[ProcessMetrics]
    scope: Scope = "local"
    fallback: str | None = None
    summaries: dict[str, EndpointSummary] | None = None
    rates: tuple[float, float] | None = None


class MetricsStates:
    """Which processes a read covers: this one alone, or this one and every other live process's publication.

    The answering process counts its own requests from memory, never from what it published, and every
    other process from its latest publication, so no request is counted twice.
    """

    def __init__(self, metrics: MetricsPort, share: MetricsSharePort | None, faults: ShareFaults) -> None:
        self._metrics = metrics
        self._share = share
        self._faults = faults

    async def __call__(self, scope: Scope | None, *, summaries: bool = False) -> Coverage:
        """The states of the scope asked for: `cluster` by default when the metrics are shared. With `summaries`, a
        read of this process alone takes its endpoints' summaries and rates rather than their states."""
        if self._share is None:
            if scope == "cluster":
                raise InvalidInput("scope", "scope=cluster needs PERFSHOP_REDIS_URL: this process shares no metrics")
            return self._own(summaries)
        if scope == "local":
            return self._own(summaries)
        try:
            published = await self._share.live()
        except Unavailable as error:
            self._faults.warn("reading", error)
            return self._own(summaries, f"the metrics share is unavailable ({error}); this process only")
        own = self._metrics.state()
        return Coverage([own, *(state for state in published if state.process != own.process)], "cluster")

    def _own(self, summaries: bool, fallback: str | None = None) -> Coverage:
        if not summaries:
            return Coverage([self._metrics.state()], fallback=fallback)
        figures = self._metrics.figures()
        return Coverage([figures.state], fallback=fallback, summaries=figures.endpoints, rates=figures.rates)


class GetMetrics:
    """Per-endpoint lifetime and window figures, the five slowest endpoints and the request rates.

    A read of this process alone takes the summaries it reads from its live counts. A cluster read merges every
    covered process's bucket spans endpoint by endpoint, giving the event loop back after every SLICE_ENTRIES
    bucket counts read, so that a large cluster never stalls the requests being served.
    """

    def __init__(self, states: MetricsStates) -> None:
        self._states = states
        # Each endpoint's last summary and the state it summarizes: a process hands out the same state object
        # again while its endpoint is unchanged, and its summary is then reused, not computed again.
        self._summaries: dict[str, tuple[EndpointState, EndpointSummary]] = {}

    async def __call__(self, scope: Scope | None = None) -> MetricsReport:
        coverage = await self._states(scope, summaries=True)
        if coverage.summaries is not None:
            return document(
                coverage.states,
                coverage.summaries,
                scope=coverage.scope,
                cluster_error=coverage.fallback,
                rates=coverage.rates,
            )
        endpoints: dict[str, EndpointSummary] = {}
        entries = 0
        for name, group in by_endpoint(coverage.states).items():
            state = merge(group)
            known = self._summaries.get(name)
            if known is not None and known[0] is state:
                endpoints[name] = known[1]
                continue
            endpoints[name] = summarize(state)
            self._summaries[name] = (state, endpoints[name])
            entries += bucket_entries(group)
            if entries >= SLICE_ENTRIES:
                entries -= SLICE_ENTRIES  # the rest counts towards the next slice
                await asyncio.sleep(0)
        return document(coverage.states, endpoints, scope=coverage.scope, cluster_error=coverage.fallback)


class PublishMetrics:
    """Publish this process's state for the other processes' readers; a share fault is logged, never raised."""

    def __init__(self, metrics: MetricsPort, share: MetricsSharePort | None, faults: ShareFaults) -> None:
        self._metrics = metrics
        self._share = share
        self._faults = faults

    async def __call__(self) -> None:
        if self._share is None:
            return
        try:
            await self._share.publish(self._metrics.state())
        except Unavailable as error:
            self._faults.warn("publishing", error)

    async def leave(self) -> None:
        """On a clean stop, fold this process's last counters into the cluster's totals now rather than once its
        publication expires; on a share fault the next reader folds them after the expiry instead."""
        if self._share is None:
            return
        try:
            await self._share.leave(self._metrics.state())
        except Unavailable as error:
            self._faults.warn("leaving", error)


class SampleLoopLag:
    """Sleep a fixed interval again and again, and record each time how much later than asked the loop woke."""

    def __init__(self, metrics: MetricsPort, clock: Clock, interval_s: float) -> None:
        self._metrics = metrics
        self._clock = clock
        self._interval_s = interval_s

    async def __call__(self) -> None:
        """Sample until cancelled: one wake-up per interval, no work per request."""
        while True:
            asked = self._clock() + self._interval_s
            await self._clock.sleep(self._interval_s)
            self._metrics.lag(self._clock() - asked)
