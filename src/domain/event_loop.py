"""How late the event loop runs and how many requests are inside the app: recorded in constant memory, lifetime and
over the sliding window, merged across processes and summarized for /metrics and Prometheus."""

from bisect import bisect_left
from collections.abc import Sequence

from msgspec import Struct

from domain.histogram import Span, percentiles_ms
from domain.queueing import Timings, TimingState, merge_timings

# Upper bounds (seconds) of the exposed lag buckets: a healthy loop wakes within a millisecond or two; 50 ms and
# more is what clients feel as queueing.
LAG_BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class EventLoopState(Struct, frozen=True, array_like=True):
    """One process's loop lag (lifetime and window buckets, extremes, exposed buckets) and requests in the app."""

    interval_s: float
    lag: TimingState
    window_max_us: int
    exposed: tuple[int, ...]  # one per LAG_BOUNDS bound, then the overflow bucket; not cumulative
    in_flight: int
    window_max_in_flight: int


class LagFigures(Struct, frozen=True):
    """Loop lag percentiles and maximum in ms, and how many samples they come from."""

    samples: int
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None


class LagSummary(Struct, frozen=True):
    """Loop lag over the process's lifetime, with the same figures over the window."""

    samples: int
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None
    window: LagFigures


class InFlight(Struct, frozen=True):
    """Requests inside the app now, and the most at once during the window."""

    now: int
    window_max: int


class EventLoopSummary(Struct, frozen=True):
    """The `event_loop` block of /metrics: how late the loop wakes a sleeping task, and requests in the app."""

    interval_ms: float
    lag_ms: LagSummary
    in_flight: InFlight


class WindowMaximum:
    """The largest value seen in each of the last `seconds` whole seconds: their maximum is the window's."""

    __slots__ = ("seconds", "slots")

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self.slots = [(-1, 0)] * seconds  # (second, maximum)

    def add(self, second: int, value: int) -> None:
        """Note `value` seen during `second` (seconds never go backwards)."""
        index = second % self.seconds
        seen, top = self.slots[index]
        if seen != second or value > top:
            self.slots[index] = (second, value)

    def maximum(self, second: int) -> int:
        """The largest value of the window ending at `second`; 0 when none was seen."""
        oldest = second - self.seconds
        return max((top for seen, top in self.slots if seen > oldest), default=0)


class EventLoopStats:
    """Loop lag samples and requests in the app, kept by one process in constant memory."""

    __slots__ = ("exposed", "in_flight", "interval_s", "lag_times", "most_in_flight", "peak", "window_max")

    def __init__(self, window_s: int, interval_s: float) -> None:
        self.interval_s = interval_s
        self.lag_times = Timings(window_s)
        self.window_max = WindowMaximum(window_s)
        self.exposed = [0] * (len(LAG_BOUNDS) + 1)
        self.in_flight = 0
        self.peak = 0  # the most requests in the app at once since the peak was last noted
        self.most_in_flight = WindowMaximum(window_s)

    def lag(self, seconds: float, second: int) -> None:
        """Record that the loop woke a sleeping task `seconds` late during `second` (negative counts as 0)."""
        seconds = max(0.0, seconds)
        self.lag_times.add(seconds, second)
        self.window_max.add(second, round(seconds * 1_000_000))
        self.exposed[bisect_left(LAG_BOUNDS, seconds)] += 1
        self._note_peak(second)

    def enter(self) -> None:
        """A request entered the app."""
        self.in_flight += 1
        if self.in_flight > self.peak:
            self.peak = self.in_flight

    def _note_peak(self, second: int) -> None:
        # A peak counts in the second it is noted: the sampler notes it every interval (and a read does), so it
        # lands within an interval, plus the loop's lag, of when it happened, and no request reads the clock for it.
        self.most_in_flight.add(second, self.peak)
        self.peak = self.in_flight

    def state(self, second: int) -> EventLoopState:
        """The mergeable figures as of `second`."""
        self._note_peak(second)
        return EventLoopState(
            interval_s=self.interval_s,
            lag=self.lag_times.state(second),
            window_max_us=self.window_max.maximum(second),
            exposed=tuple(self.exposed),
            in_flight=self.in_flight,
            window_max_in_flight=max(self.most_in_flight.maximum(second), self.in_flight),
        )


def merge_event_loops(states: Sequence[EventLoopState]) -> EventLoopState:
    """Several processes' loops as one: lag buckets summed, extremes kept, requests in the apps summed."""
    if len(states) == 1:
        return states[0]
    return EventLoopState(
        interval_s=min(state.interval_s for state in states),
        lag=merge_timings([state.lag for state in states]),  # type: ignore[arg-type] # never None for 2+ states
        window_max_us=max(state.window_max_us for state in states),
        exposed=tuple(sum(counts) for counts in zip(*(state.exposed for state in states), strict=True)),
        in_flight=sum(state.in_flight for state in states),
        window_max_in_flight=sum(state.window_max_in_flight for state in states),
    )


def summarize_event_loop(state: EventLoopState) -> EventLoopSummary:
    """The /metrics block of a loop's (or several merged loops') state."""
    lag = state.lag
    return EventLoopSummary(
        interval_ms=round(state.interval_s * 1000, 3),
        lag_ms=LagSummary(
            *_figures(lag.count, lag.buckets, lag.max_us),
            window=LagFigures(*_figures(lag.window_count, lag.window_buckets, state.window_max_us)),
        ),
        in_flight=InFlight(now=state.in_flight, window_max=state.window_max_in_flight),
    )


def _figures(
    samples: int, buckets: Span, max_us: int
) -> tuple[int, float | None, float | None, float | None, float | None]:
    p50, p95, p99 = percentiles_ms(buckets, 0, max_us)
    return samples, p50, p95, p99, (max_us / 1000 if samples else None)
