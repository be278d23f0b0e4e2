"""The wait in front of the app and what users felt: a proxy's `X-Request-Start` read as the time it received the
request, queue and end-to-end times per endpoint, and Apdex (requests that satisfied, were tolerable or frustrated
their users), lifetime and over a sliding window."""

from collections.abc import Sequence
from typing import Literal, NamedTuple

from msgspec import Struct

from domain.histogram import (
    BUCKETS,
    LINEAR_BITS,
    LINEAR_BUCKETS,
    MAX_EXPONENT,
    SUB_BITS,
    Histogram,
    SlidingWindow,
    Span,
    add_spans,
    percentiles_ms,
)

Rejection = Literal["unparseable", "too_old", "in_future"]
REJECTIONS: tuple[Rejection, ...] = ("unparseable", "too_old", "in_future")
# A clock a little ahead of the proxy's reads as a small negative wait: that much is clamped to 0, more is refused.
_SKEW_TOLERATED_S = 1.0
_NO_MINIMUM = 1 << 62  # above any time, so that the first one recorded becomes the minimum
# What surrounds the value: the bytes a latin-1 decoded header value's str.strip() (regex `\s`) would remove.
_WHITESPACE = b" \t\n\v\f\r\x1c\x1d\x1e\x1f\x85\xa0"


def request_start(value: bytes) -> float | None:
    """The epoch seconds an `X-Request-Start` value gives, or None when it is not one of its forms.

    The forms are `t=<seconds with a fraction>` (NGINX `t=${msec}`), `t=<microseconds>` (Apache `t=%t`), and a
    bare number of milliseconds or microseconds; they are told apart by magnitude, which for any date from 1973
    to 5138 leaves no doubt: seconds below 1e11, milliseconds below 1e14, microseconds above. The number is 1 to
    20 digits with an optional fraction of 1 to 9, the whole value may be surrounded by whitespace.
    """
    # Checked piece by piece rather than with a regex, which took twice as long on every request: bytes.isdigit()
    # accepts ASCII digits only, so float() then sees nothing but digits and at most one dot (none of its own
    # extras: signs, exponents, underscores, inf or nan).
    digits = value.strip(_WHITESPACE).removeprefix(b"t=")
    whole, dot, fraction = digits.partition(b".")
    if len(whole) > 20 or not whole.isdigit() or (dot and (len(fraction) > 9 or not fraction.isdigit())):
        return None
    number = float(digits)
    if number < 1e11:
        return number
    return number / 1e3 if number < 1e14 else number / 1e6


def queue_seconds(value: bytes, now: float, max_age_s: float) -> float | Rejection:
    """How long the request waited between the proxy and the app (`now` in epoch seconds), or why not recorded."""
    started = request_start(value)
    if started is None:
        return "unparseable"
    waited = now - started
    if waited < -_SKEW_TOLERATED_S:
        return "in_future"
    if waited > max_age_s:
        return "too_old"
    return max(0.0, waited)


SATISFIED, TOLERATING, FRUSTRATED = 0, 1, 2


def apdex(zones: Sequence[int]) -> float | None:
    """(satisfied + tolerating / 2) / all, 0..1, of (satisfied, tolerating, frustrated); None without requests."""
    satisfied, tolerating, frustrated = zones
    total = satisfied + tolerating + frustrated
    return round((satisfied + tolerating / 2) / total, 4) if total else None


class CountsWindow:
    """Counts of a few kinds over the last `seconds` whole seconds: one slot per second, running sums, O(1) reads."""

    __slots__ = ("expired", "seconds", "slots", "totals")

    def __init__(self, seconds: int, kinds: int) -> None:
        self.seconds = seconds
        self.slots: list[tuple[int, list[int]]] = [(-1, [0] * kinds) for _ in range(seconds)]
        self.totals = [0] * kinds
        self.expired = -seconds  # every slot of a second up to this one has been forgotten

    def add(self, second: int, kind: int) -> None:
        """Count one of `kind` during `second` (seconds never go backwards)."""
        index = second % self.seconds
        seen, counts = self.slots[index]
        if seen != second:
            self._forget(counts)
            self.slots[index] = (second, counts)
        counts[kind] += 1
        self.totals[kind] += 1

    def counts(self, second: int) -> tuple[int, ...]:
        """The counts of the window ending at `second`; only the seconds that left it since the last read are
        looked at."""
        oldest = second - self.seconds
        if oldest > self.expired:
            slots, seconds = self.slots, self.seconds
            for past in range(max(self.expired, oldest - seconds) + 1, oldest + 1):
                seen, counts = slots[past % seconds]
                if seen <= oldest:
                    self._forget(counts)
            self.expired = oldest
        return tuple(self.totals)

    def _forget(self, counts: list[int]) -> None:
        for kind, count in enumerate(counts):
            self.totals[kind] -= count
            counts[kind] = 0


class TimingState(Struct, frozen=True, array_like=True):
    """One kind of time of one endpoint (queue or end-to-end), lifetime and window, mergeable across processes."""

    count: int
    micros: int
    max_us: int
    buckets: Span
    window_count: int
    window_micros: int
    window_buckets: Span


class Timings:
    """One kind of time of one endpoint in constant memory: a lifetime histogram and a sliding window, which counts
    the values into both (read the histograms after `window.advance()`)."""

    __slots__ = ("histogram", "max_us", "micros", "min_us", "window")

    def __init__(self, window_s: int) -> None:
        self.histogram = Histogram()
        self.window = SlidingWindow(window_s, self.histogram)
        self.micros = 0
        self.min_us = _NO_MINIMUM
        self.max_us = 0

    def add(self, seconds: float, second: int) -> None:
        """Count one time that ended during `second`."""
        micros = round(seconds * 1_000_000)
        # bucket_of() written out: this runs up to three times per request, where a call costs more.
        if micros < LINEAR_BUCKETS:
            index = micros if micros > 0 else 0
        else:
            exponent = micros.bit_length() - LINEAR_BITS
            index = (exponent << SUB_BITS) + (micros >> exponent) if exponent <= MAX_EXPONENT else BUCKETS - 1
        # Into the window's slot of this second; the window counts it into the lifetime histogram too.
        window = self.window
        slot = window.current
        if slot.second != second:
            slot = window.enter(second)
        slot.pending[index] += 1
        slot.micros += micros
        window.micros += micros
        self.micros += micros
        if micros > self.max_us:
            self.max_us = micros
        if micros < self.min_us:
            self.min_us = micros

    def state(self, second: int) -> TimingState:
        """The mergeable figures as of `second`."""
        self.window.advance(second)
        return TimingState(
            count=self.histogram.total,
            micros=self.micros,
            max_us=self.max_us,
            buckets=self.histogram.span(),
            window_count=self.window.count,
            window_micros=self.window.micros,
            window_buckets=self.window.histogram.span(),
        )

    def figures(self) -> "TimingFigures":
        """The figures, their percentiles read from the live counts as of the window's last advance."""
        if not self.histogram.total:
            return NO_FIGURES
        return figures_of(
            self.histogram.total,
            self.micros,
            self.max_us,
            self.histogram.percentiles_ms(0, self.max_us),
            self.window.histogram.percentiles_ms(0, self.max_us),
        )


def merge_timings(states: list[TimingState]) -> TimingState | None:
    """Several processes' times of one kind as one; None when no process has any."""
    if len(states) <= 1:
        return states[0] if states else None
    return TimingState(
        count=sum(state.count for state in states),
        micros=sum(state.micros for state in states),
        max_us=max(state.max_us for state in states),
        buckets=add_spans(state.buckets for state in states),
        window_count=sum(state.window_count for state in states),
        window_micros=sum(state.window_micros for state in states),
        window_buckets=add_spans(state.window_buckets for state in states),
    )


class TimingFigures(NamedTuple):
    """A kind of time's figures in ms: lifetime average, maximum and percentiles, then the window's percentiles."""

    avg: float | None
    max: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    window_p50: float | None
    window_p95: float | None
    window_p99: float | None


# The figures of a kind of time not recorded.
NO_FIGURES = TimingFigures(None, None, None, None, None, None, None, None)


def timing_figures(state: TimingState | None) -> TimingFigures:
    """The figures of a kind of time from its state's bucket spans; all None when nothing was recorded."""
    if state is None or not state.count:
        return NO_FIGURES
    return figures_of(
        state.count,
        state.micros,
        state.max_us,
        percentiles_ms(state.buckets, 0, state.max_us),
        percentiles_ms(state.window_buckets, 0, state.max_us),
    )


def figures_of(
    count: int, micros: int, max_us: int, lifetime: list[float | None], window: list[float | None]
) -> TimingFigures:
    """The figures of a kind of time recorded `count` (at least 1) times, summing `micros`, with these PERCENTS
    percentiles in ms (lifetime, window)."""
    return TimingFigures(round(min(micros / count, max_us)) / 1000, max_us / 1000, *lifetime, *window)
