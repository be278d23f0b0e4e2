"""The figures of one or several processes' metrics states: bucket-wise merging, percentiles, rates, top-N."""

from collections.abc import Iterable, Sequence

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
    TimingFigures,
    apdex,
    merge_timings,
    timing_figures,
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
    rates: tuple[float, float] | None = None,
) -> MetricsReport:
    """The /metrics document of these processes, given each endpoint's summary over all of them, and their
    requests per second (lifetime, window) when known, else those of their states' endpoints.

    A process's lifetime rate is its requests over its uptime; the rates of several processes add up.
    """
    rps, rps_window = rates or (
        sum(_rate(sum(e.count for e in state.endpoints.values()), state.uptime_s) for state in states),
        sum(e.window_rps for state in states for e in state.endpoints.values()),
    )
    loops = [state.event_loop for state in states if state.event_loop is not None]
    objectives: dict[str, list[SloState]] = {}
    for state in states:
        for objective in state.slo:
            objectives.setdefault(objective.name, []).append(objective)
    return MetricsReport(
        endpoints=endpoints,
        top_5_slowest=slowest(endpoints, top),
        rps=round(rps, 3),
        rps_window=round(rps_window, 3),
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


def summarize(state: EndpointState) -> EndpointSummary:
    """An endpoint's figures from its state's bucket spans (several processes' states merged, or one's)."""
    count, max_us = state.count, state.max_us
    return endpoint_summary(
        (count, state.micros, state.min_us, max_us),
        (
            percentiles_ms(state.buckets, state.min_us, max_us),
            percentiles_ms(state.window_buckets, state.min_us, max_us),
            percentiles_ms(state.ttfb) if state.ttfb else None,
        ),
        {series.status_class: series.count for series in state.series},
        (state.window_count, state.window_micros, state.window_rps),
        (state.apdex, state.window_apdex),
        timing_figures(state.queue),
        timing_figures(state.e2e),
    )


def endpoint_summary(
    totals: tuple[int, int, int, int],
    percentiles: tuple[list[float | None], list[float | None], list[float | None] | None],
    status_classes: dict[str, int],
    window: tuple[int, int, float],
    apdex_zones: tuple[Sequence[int], Sequence[int]],
    queue: TimingFigures,
    e2e: TimingFigures,
) -> EndpointSummary:
    """An endpoint's lifetime and window figures (times to the last byte, in ms) and its status classes, from its
    totals (count, µs summed, minimum and maximum µs), PERCENTS percentiles in ms (lifetime, window, time to first
    byte), requests by status class, window (count, µs summed, rate), Apdex zones (lifetime, window), queue and
    end-to-end figures.

    The summaries are built positionally: a keyword construction of these structs costs three times as much, and a
    read builds one per endpoint.
    """
    count, micros, min_us, max_us = totals
    (p50, p95, p99), (w50, w95, w99), ttfb = percentiles
    window_count, window_micros, window_rps = window
    t50, t95, t99 = ttfb or (None, None, None)
    status = dict.fromkeys(STATUS_CLASSES, 0)
    status.update(status_classes)
    return EndpointSummary(
        count,
        round(micros / count) / 1000 if count else 0.0,  # avg_ms
        min_us / 1000,
        max_us / 1000,
        p50 or 0.0,
        p95 or 0.0,
        p99 or 0.0,
        status,
        WindowSummary(
            window_count,
            round(window_micros / window_count) / 1000 if window_count else None,  # avg_ms
            w50,
            w95,
            w99,
            round(window_rps, 3),
            apdex(apdex_zones[1]),
            queue.window_p50,
            queue.window_p95,
            queue.window_p99,
            e2e.window_p50,
            e2e.window_p95,
            e2e.window_p99,
        ),
        t50,
        t95,
        t99,
        apdex(apdex_zones[0]),
        queue.avg,
        queue.max,
        queue.p50,
        queue.p95,
        queue.p99,
        e2e.avg,
        e2e.max,
        e2e.p50,
        e2e.p95,
        e2e.p99,
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
