"""The figures of one or several processes' metrics states: bucket-wise merging, percentiles, rates, top-N."""

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from domain.event_loop import merge_event_loops, summarize_event_loop
from domain.histogram import Span, add_spans, percentiles_ms
from domain.metrics import (
    STATUS_CLASSES,
    EndpointState,
    EndpointSummary,
    MetricsReport,
    ProcessMetrics,
    SlowEndpoint,
    StatusSeries,
    WindowSummary,
)
from domain.queueing import (
    REJECTIONS,
    TimingPercentiles,
    apdex,
    merge_timings,
    timing_figures,
    timing_percentiles,
)
from domain.slo import SloState, merge_slo, summarize_slo


def slowest(endpoints: dict[str, EndpointSummary], n: int) -> list[SlowEndpoint]:
    """The `n` endpoints with the highest average time, slowest first."""
    ranked = sorted(endpoints.items(), key=lambda item: item[1].avg_ms, reverse=True)
    return [SlowEndpoint(endpoint=name, avg_ms=summary.avg_ms) for name, summary in ranked[:n]]


def report(
    states: Sequence[ProcessMetrics], *, scope: str = "local", cluster_error: str | None = None, top: int = 5
) -> MetricsReport:
    """The /metrics document of these processes (at least one): each endpoint merged over all of them."""
    endpoints = {name: summarize(merge(group)) for name, group in by_endpoint(states).items()}
    return document(states, endpoints, scope=scope, cluster_error=cluster_error, top=top)


def by_endpoint(states: Sequence[ProcessMetrics]) -> dict[str, list[EndpointState]]:
    """Each endpoint's states, one per process that has it."""
    grouped: dict[str, list[EndpointState]] = {}
    for state in states:
        for name, endpoint in state.endpoints.items():
            grouped.setdefault(name, []).append(endpoint)
    return grouped


def bucket_entries(states: Iterable[EndpointState]) -> int:
    """How many bucket counts merging and summarizing these states reads: the measure of that work."""
    return sum(
        len(state.buckets.counts) + len(state.window_buckets.counts) + len((state.ttfb or Span()).counts)
        for state in states
    )


def document(
    states: Sequence[ProcessMetrics],
    endpoints: dict[str, EndpointSummary],
    *,
    scope: str = "local",
    cluster_error: str | None = None,
    top: int = 5,
) -> MetricsReport:
    """The /metrics document of these processes, given each endpoint's summary over all of them.

    A process's lifetime rate is its requests over its uptime; the rates of several processes add up.
    """
    rps = sum(_rate(sum(e.count for e in state.endpoints.values()), state.uptime_s) for state in states)
    loops = [state.event_loop for state in states if state.event_loop is not None]
    objectives: dict[str, list[SloState]] = {}
    for state in states:
        for objective in state.slo:
            objectives.setdefault(objective.name, []).append(objective)
    return MetricsReport(
        endpoints=endpoints,
        top_5_slowest=slowest(endpoints, top),
        rps=round(rps, 3),
        rps_window=round(sum(e.window_rps for state in states for e in state.endpoints.values()), 3),
        uptime_s=round(max(state.uptime_s for state in states), 3),
        window_s=states[0].window_s,
        scope=scope,
        processes=len(states),
        cluster_error=cluster_error,
        event_loop=summarize_event_loop(merge_event_loops(loops)) if loops else None,
        request_starts_rejected={
            reason: sum(state.request_starts_rejected.get(reason, 0) for state in states) for reason in REJECTIONS
        },
        slo={name: summarize_slo(merge_slo(group)) for name, group in objectives.items()} or None,
    )


def merge(states: Sequence[EndpointState]) -> EndpointState:
    """One endpoint's states of several processes added up: counts and buckets summed, extremes kept."""
    if len(states) == 1:
        return states[0]
    seen = [state for state in states if state.count]
    ttfbs = [state.ttfb for state in states if state.ttfb]
    return EndpointState(
        count=sum(state.count for state in states),
        micros=sum(state.micros for state in states),
        min_us=min((state.min_us for state in seen), default=0),
        max_us=max((state.max_us for state in seen), default=0),
        buckets=add_spans(state.buckets for state in states),
        window_count=sum(state.window_count for state in states),
        window_micros=sum(state.window_micros for state in states),
        window_buckets=add_spans(state.window_buckets for state in states),
        window_rps=sum(state.window_rps for state in states),
        series=_merge_series(series for state in states for series in state.series),
        ttfb=add_spans(ttfbs) if ttfbs else None,
        apdex=_sum_counts(state.apdex for state in states),
        window_apdex=_sum_counts(state.window_apdex for state in states),
        queue=merge_timings([state.queue for state in states if state.queue]),
        e2e=merge_timings([state.e2e for state in states if state.e2e]),
    )


def _sum_counts(counts: Iterable[tuple[int, ...]]) -> tuple[int, ...]:
    return tuple(sum(kind) for kind in zip(*counts, strict=True))


class EndpointPercentiles(NamedTuple):
    """An endpoint's PERCENTS percentiles in ms: time to the last byte (lifetime and window, kept within its
    extremes), time to the first byte, queue and end-to-end times (None while not recorded)."""

    lifetime: list[float | None]
    window: list[float | None]
    ttfb: list[float | None] | None
    queue: TimingPercentiles | None
    e2e: TimingPercentiles | None


def state_percentiles(state: EndpointState) -> EndpointPercentiles:
    """The percentiles of a state's buckets."""
    return EndpointPercentiles(
        lifetime=percentiles_ms(state.buckets, state.min_us, state.max_us),
        window=percentiles_ms(state.window_buckets, state.min_us, state.max_us),
        ttfb=percentiles_ms(state.ttfb) if state.ttfb else None,
        queue=timing_percentiles(state.queue) if state.queue else None,
        e2e=timing_percentiles(state.e2e) if state.e2e else None,
    )


def summarize(state: EndpointState, percentiles: EndpointPercentiles | None = None) -> EndpointSummary:
    """An endpoint's lifetime and window figures (times to the last byte, in ms) and its status classes; the
    percentiles are those given, else those of the state's buckets."""
    known = percentiles or state_percentiles(state)
    p50, p95, p99 = known.lifetime
    w50, w95, w99 = known.window
    t50, t95, t99 = known.ttfb or (None, None, None)
    status = dict.fromkeys(STATUS_CLASSES, 0)
    status.update((series.status_class, series.count) for series in state.series)
    count = state.window_count
    queue, e2e = timing_figures(state.queue, known.queue), timing_figures(state.e2e, known.e2e)
    return EndpointSummary(
        count=state.count,
        avg_ms=round(state.micros / state.count / 1000, 3) if state.count else 0.0,
        min_ms=state.min_us / 1000,
        max_ms=state.max_us / 1000,
        p50_ms=p50 or 0.0,
        p95_ms=p95 or 0.0,
        p99_ms=p99 or 0.0,
        status=status,
        window=WindowSummary(
            count=count,
            avg_ms=_ms(state.window_micros / count) if count else None,
            p50_ms=w50,
            p95_ms=w95,
            p99_ms=w99,
            rps=round(state.window_rps, 3),
            apdex=apdex(state.window_apdex),
            queue_p50_ms=queue.window_p50,
            queue_p95_ms=queue.window_p95,
            queue_p99_ms=queue.window_p99,
            e2e_p50_ms=e2e.window_p50,
            e2e_p95_ms=e2e.window_p95,
            e2e_p99_ms=e2e.window_p99,
        ),
        ttfb_p50_ms=t50,
        ttfb_p95_ms=t95,
        ttfb_p99_ms=t99,
        apdex=apdex(state.apdex),
        queue_avg_ms=queue.avg,
        queue_max_ms=queue.max,
        queue_p50_ms=queue.p50,
        queue_p95_ms=queue.p95,
        queue_p99_ms=queue.p99,
        e2e_avg_ms=e2e.avg,
        e2e_max_ms=e2e.max,
        e2e_p50_ms=e2e.p50,
        e2e_p95_ms=e2e.p95,
        e2e_p99_ms=e2e.p99,
    )


def _merge_series(all_series: Iterable[StatusSeries]) -> tuple[StatusSeries, ...]:
    merged: dict[str, StatusSeries] = {}
    for series in all_series:
        known = merged.get(series.status_class)
        merged[series.status_class] = (
            series
            if known is None
            else StatusSeries(
                status_class=series.status_class,
                count=known.count + series.count,
                sum_s=known.sum_s + series.sum_s,
                buckets=tuple(mine + theirs for mine, theirs in zip(known.buckets, series.buckets, strict=True)),
            )
        )
    return tuple(merged[name] for name in sorted(merged))


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


def _ms(micros: float | None) -> float | None:
    return None if micros is None else round(micros / 1000, 3)
