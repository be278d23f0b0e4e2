"""Service level objectives and their error-budget burn rates over the Google SRE workbook's multi-window pairs:
good and bad requests counted per minute in a fixed ring, with running sums per window, so a read is O(1)."""

import re
from typing import Literal

from msgspec import Struct

RING_MINUTES = 360
# (name, minutes) of every window a burn rate is read over; the alerting pairs name two of them each.
WINDOWS = (("5m", 5), ("30m", 30), ("1h", 60), ("6h", 360))
FAST_BURN = (("5m", "1h"), 14.4)
SLOW_BURN = (("30m", "6h"), 6.0)
Status = Literal["ok", "slow_burn", "fast_burn"]
_LATENCY = re.compile(r"(\d{1,2}(?:\.\d{1,6})?):(\d{1,7}(?:\.\d{1,3})?)")


class Objective(Struct, frozen=True):
    """One objective: `target` percent of requests good; for latency, good means within `threshold_ms`."""

    name: Literal["availability", "latency"]
    target: float
    threshold_ms: float | None = None


def latency_objective(text: str) -> Objective:
    """`<percent>:<ms>`, e.g. `99:300`, as the latency objective; ValueError naming the expected form."""
    match = _LATENCY.fullmatch(text.strip())
    if match is None or not 0 < float(match.group(1)) < 100 or float(match.group(2)) <= 0:
        raise ValueError("expected <percent>:<ms> with 0 < percent < 100 and ms > 0, e.g. 99:300")
    return Objective("latency", float(match.group(1)), float(match.group(2)))


class SloState(Struct, frozen=True, array_like=True):
    """One objective's counts in one process: lifetime, and per window of WINDOWS (as of the state's minute)."""

    name: str
    target: float
    threshold_ms: float | None
    good: int
    bad: int
    window_good: tuple[int, ...]
    window_bad: tuple[int, ...]
    covered_s: float  # how much of the longest window the process has been up for


class MinuteRing:
    """Good and bad requests per minute over the last RING_MINUTES minutes, with a running sum per window, and
    over the lifetime.

    A request only counts into its minute (`now_good` or `now_bad`, which SloCounter.record adds to once it has
    advanced the ring to the request's minute); the minute joins the windows' sums and the lifetime's when the next
    one begins, so the per-request work does not grow with the number of windows.
    """

    __slots__ = (
        "bad",
        "before_bad",
        "before_good",
        "good",
        "minute",
        "minutes",
        "now_bad",
        "now_good",
        "sums_bad",
        "sums_good",
    )

    def __init__(self) -> None:
        self.minute = -1
        self.before_good = self.before_bad = 0  # the lifetime up to the current minute
        self._clear()

    def _clear(self) -> None:
        self.good = [0] * RING_MINUTES
        self.bad = [0] * RING_MINUTES
        self.minutes = [-1] * RING_MINUTES  # the minute each slot holds
        self.sums_good = [0] * len(WINDOWS)  # the minutes before the current one, per window
        self.sums_bad = [0] * len(WINDOWS)
        self.now_good = self.now_bad = 0  # the current minute

    def lifetime(self) -> tuple[int, int]:
        """The good and the bad count of every minute so far."""
        return self.before_good + self.now_good, self.before_bad + self.now_bad

    def windows(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The good and the bad counts of each window of WINDOWS, as of the current minute."""
        return (
            tuple(total + self.now_good for total in self.sums_good),
            tuple(total + self.now_bad for total in self.sums_bad),
        )

    def advance(self, minute: int) -> None:
        """Move to `minute`: the current minute joins every window's sum, and each window drops the minutes that
        leave it."""
        if minute <= self.minute:
            return
        slot = self.minute % RING_MINUTES
        self.good[slot], self.bad[slot], self.minutes[slot] = self.now_good, self.now_bad, self.minute
        for index in range(len(WINDOWS)):
            self.sums_good[index] += self.now_good
            self.sums_bad[index] += self.now_bad
        self.before_good += self.now_good
        self.before_bad += self.now_bad
        self.now_good = self.now_bad = 0
        if minute - self.minute >= RING_MINUTES:  # idle for the whole ring: nothing is left in any window
            self._clear()
        else:
            for now in range(self.minute + 1, minute + 1):
                self._enter(now)
        self.minute = minute

    def _enter(self, now: int) -> None:
        for index, (_, length) in enumerate(WINDOWS):
            leaving = now - length
            slot = leaving % RING_MINUTES
            if self.minutes[slot] == leaving:
                self.sums_good[index] -= self.good[slot]
                self.sums_bad[index] -= self.bad[slot]
        slot = now % RING_MINUTES
        self.good[slot] = self.bad[slot] = 0
        self.minutes[slot] = now


class SloCounter:
    """One objective counted by one process."""

    __slots__ = ("objective", "ring")

    def __init__(self, objective: Objective) -> None:
        self.objective = objective
        self.ring = MinuteRing()

    def record(self, status: int, felt_seconds: float, minute: int) -> None:
        """Count one request that ended during `minute` (minutes never go backwards) into its ring's minute."""
        # Counted here rather than by a call into the ring: this runs per objective on every request.
        ring = self.ring
        if minute > ring.minute:
            ring.advance(minute)
        # Bad: a 5xx (429 is not one) for availability, slower than the threshold for latency.
        threshold_ms = self.objective.threshold_ms
        if (status >= 500) if threshold_ms is None else felt_seconds * 1000 > threshold_ms:
            ring.now_bad += 1
        else:
            ring.now_good += 1

    def state(self, minute: int, uptime_s: float) -> SloState:
        """The counts as of `minute`, for a process up for `uptime_s`."""
        self.ring.advance(minute)
        good, bad = self.ring.lifetime()
        window_good, window_bad = self.ring.windows()
        objective = self.objective
        return SloState(
            name=objective.name,
            target=objective.target,
            threshold_ms=objective.threshold_ms,
            good=good,
            bad=bad,
            window_good=window_good,
            window_bad=window_bad,
            covered_s=uptime_s,
        )


class BurnWindow(Struct, frozen=True):
    """One window's counts and burn rate; `covers_s` is shorter than the window while the uptime is."""

    good: int
    bad: int
    burn_rate: float
    covers_s: float
    partial: bool


class BurnAlert(Struct, frozen=True):
    """An alerting pair: it fires when both windows burn at least `threshold` times the sustainable rate."""

    windows: tuple[str, str]
    threshold: float
    firing: bool


class SloSummary(Struct, frozen=True, omit_defaults=True):
    """One objective as /metrics reports it."""

    target: float
    good: int
    bad: int
    status: Status
    windows: dict[str, BurnWindow]
    fast_burn: BurnAlert
    slow_burn: BurnAlert
    threshold_ms: float | None = None


def merge_slo(states: list[SloState]) -> SloState:
    """One objective's counts of several processes added up; the coverage is the longest-running one's."""
    first = states[0]
    return SloState(
        name=first.name,
        target=first.target,
        threshold_ms=first.threshold_ms,
        good=sum(state.good for state in states),
        bad=sum(state.bad for state in states),
        window_good=tuple(map(sum, zip(*(state.window_good for state in states), strict=True))),
        window_bad=tuple(map(sum, zip(*(state.window_bad for state in states), strict=True))),
        covered_s=max(state.covered_s for state in states),
    )


def summarize_slo(state: SloState) -> SloSummary:
    """Burn rates per window, the two alerting pairs, and the status they give."""
    budget = 1 - state.target / 100
    windows = {}
    for (name, minutes), good, bad in zip(WINDOWS, state.window_good, state.window_bad, strict=True):
        total = good + bad
        rate = (bad / total) / budget if total else 0.0
        covers = min(minutes * 60, state.covered_s)
        windows[name] = BurnWindow(good, bad, round(rate, 3), round(covers, 1), covers < minutes * 60)
    fast, slow = (_alert(windows, pair, threshold) for pair, threshold in (FAST_BURN, SLOW_BURN))
    status: Status = "fast_burn" if fast.firing else "slow_burn" if slow.firing else "ok"
    return SloSummary(state.target, state.good, state.bad, status, windows, fast, slow, state.threshold_ms)


def _alert(windows: dict[str, BurnWindow], pair: tuple[str, str], threshold: float) -> BurnAlert:
    firing = all(windows[name].burn_rate >= threshold for name in pair)
    return BurnAlert(pair, threshold, firing)
