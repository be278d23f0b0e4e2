"""The serialization use case with a fake clock: real encoding in bounded slices, a rest on the clock after each one
while the loop's other tasks run, until the budget ends or the call is cancelled."""

import asyncio

import msgspec
import pytest

from application.slow import SerializationReport, SerializeLargePayload, payload_row
from tests.fakes import FakeClock

SLICE = 50
REST_S = 2**-10  # a power of two keeps the fake clock's sums exact
BUDGET_S = 100 * REST_S


def serializer(clock: FakeClock, budget_s: float = BUDGET_S) -> SerializeLargePayload:
    return SerializeLargePayload(clock, budget_s=budget_s, slice_rows=SLICE, rest_s=REST_S)


async def tick(clock: FakeClock, until: asyncio.Future[object], rests: int | None = None) -> int:
    """Each time a call rests on the clock, end its rest; until `until` is done or after `rests` rests. How many."""
    ended = turns = 0
    while not until.done() and ended != rests:
        await asyncio.sleep(0)  # one turn of the loop for the calls, no time: the fake clock moves only here
        turns += 1
        assert turns < 10_000, "no call rested on the clock"
        if clock.sleepers:
            clock.advance(REST_S)
            ended += 1
    return ended


def slices(report: SerializationReport) -> int:
    assert report.rows % SLICE == 0
    return report.rows // SLICE


async def test_it_encodes_a_bounded_slice_between_two_rests_until_its_budget_ends() -> None:
    clock = FakeClock()

    call = asyncio.ensure_future(serializer(clock)())
    rests = await tick(clock, call)
    report = call.result()

    # Each rest is the loop's to use; the budget holds 100 of them, each after one slice.
    assert rests == 100
    assert slices(report) == rests
    assert report.bytes == len(msgspec.json.encode([payload_row(i) for i in range(report.rows)]))


async def test_concurrent_calls_take_turns_instead_of_adding_up_their_slices() -> None:
    clock = FakeClock()
    serialize = serializer(clock)

    calls = [asyncio.create_task(serialize()) for _ in range(4)]
    rests = await tick(clock, asyncio.gather(*calls))

    done = [slices(call.result()) for call in calls]
    assert all(count > 0 for count in done)
    assert sum(done) == rests  # one call at a time encoded a slice and rested


async def test_a_cancelled_call_stops_encoding_and_leaves_its_turns_to_the_others() -> None:
    clock = FakeClock()
    serialize = serializer(clock)
    gone = asyncio.create_task(serialize())
    staying = asyncio.create_task(serialize())
    await tick(clock, staying, rests=20)

    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    rests_after = await tick(clock, staying)

    # Both shared the first 20 rests; after the cancellation every slice was the call that stayed.
    assert rests_after <= slices(staying.result()) < 20 + rests_after


async def test_a_spent_budget_encodes_nothing() -> None:
    report = await serializer(FakeClock(), budget_s=0)()

    assert (report.rows, report.bytes) == (0, len(b"[]"))
