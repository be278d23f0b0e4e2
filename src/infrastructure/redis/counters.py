"""Every process's Prometheus counters in Redis, the departed processes' included, each counted exactly once.

A hash `<prefix>:metrics:counters` holds each publisher's latest counters ("<sequence> <msgpack>") and a key
`<prefix>:metrics:alive:<publisher>` expires with its state. A publisher whose alive key is gone (a crash, or a
process cut off from Redis) is folded by the next reader, in one script: its counters are added into the hash
`<prefix>:metrics:departed` (one integer per bucket, sum and count) and leave the counters hash, so that every
count is in exactly one of the two. A clean stop folds its own last counters the same way. A folded publisher that
publishes again takes its folded counters back out of the departed sum in the same script, for a day; an earlier
publication that lands after a later one is ignored.
"""

import asyncio
import uuid

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from domain.counters import Buckets, Counters, add_counters, subtract_counters
from domain.event_loop import LAG_BOUNDS
from domain.metrics import EXPOSED_BOUNDS

FOLDED_KEPT_MS = 24 * 3600 * 1000  # how long a folded publisher may come back and take its counters back

# Departed fields: r\0<endpoint>\0<status class>\0<bucket 1..n or s>, l\0<bucket or s>, o\0<objective>\0<g or b>.
_EACH_COUNT = """
local function each_count(value, add)
    local counters = cmsgpack.unpack(string.sub(value, string.find(value, ' ', 1, true) + 1))
    for endpoint, classes in pairs(counters[1]) do
        for class, buckets in pairs(classes) do
            local field = 'r\\0' .. endpoint .. '\\0' .. class .. '\\0'
            for i, n in ipairs(buckets[1]) do add(field .. i, n) end
            add(field .. 's', buckets[2])
        end
    end
    if counters[2] then
        for i, n in ipairs(counters[2][1]) do add('l\\0' .. i, n) end
        add('l\\0s', counters[2][2])
    end
    for name, pair in pairs(counters[3] or {}) do
        add('o\\0' .. name .. '\\0g', pair[1])
        add('o\\0' .. name .. '\\0b', pair[2])
    end
end

local function into(departed, sign)
    return function(field, n) redis.call('HINCRBY', departed, field, string.format('%d', sign * n)) end
end

local function fold(counters, departed, folded, publisher, value, kept_ms)
    each_count(value, into(departed, 1))
    redis.call('SET', folded, value, 'PX', kept_ms)
    redis.call('HDEL', counters, publisher)
end

local function sequence(value)
    return tonumber(string.match(value, '^%d+'))
end
"""

# KEYS: counters, departed, folded:<publisher>, alive:<publisher>.
# ARGV: publisher, "<sequence> <msgpack>", alive ms, "1" before any acknowledged publication, "1" to leave, kept ms.
# Returns 0 when the publisher was folded longer ago than its folded counters are kept: it must start afresh.
_PUBLISH = (
    _EACH_COUNT
    + """
local current = redis.call('HGET', KEYS[1], ARGV[1])
local folded = redis.call('GET', KEYS[3])
local known = current or folded
if known and sequence(known) >= sequence(ARGV[2]) then
    return 1
end
if folded then
    each_count(folded, into(KEYS[2], -1))
    redis.call('DEL', KEYS[3])
elseif not current and ARGV[4] == '0' then
    return 0
end
if ARGV[5] == '1' then
    fold(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[6])
    redis.call('DEL', KEYS[4])
else
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
    redis.call('SET', KEYS[4], '1', 'PX', ARGV[3])
end
return 1
"""
)

# KEYS: counters, departed. ARGV: alive key prefix, folded key prefix, kept ms.
_FOLD_AND_READ = (
    _EACH_COUNT
    + """
for _, publisher in ipairs(redis.call('HKEYS', KEYS[1])) do
    if redis.call('EXISTS', ARGV[1] .. publisher) == 0 then
        local value = redis.call('HGET', KEYS[1], publisher)
        fold(KEYS[1], KEYS[2], ARGV[2] .. publisher, publisher, value, ARGV[3])
    end
end
return {redis.call('HVALS', KEYS[1]), redis.call('HGETALL', KEYS[2])}
"""
)


class RedisCounters:
    """This process's counters published under a publisher id of its own, and the cluster's totals read back."""

    def __init__(self, client: Redis, prefix: str, alive_ms: int) -> None:
        self._counters_key = f"{prefix}:metrics:counters"
        self._departed_key = f"{prefix}:metrics:departed"
        self._alive_prefix = f"{prefix}:metrics:alive:"
        self._folded_prefix = f"{prefix}:metrics:folded:"
        self._alive_ms = alive_ms
        self._publish = client.register_script(_PUBLISH)
        self._fold_and_read = client.register_script(_FOLD_AND_READ)
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(Counters)
        self._publisher = uuid.uuid4().hex
        self._landed = False
        self._baseline: Counters | None = None  # counted under a written-off publisher id already

    async def queue(self, pipe: Pipeline, counters: Counters, sequence: int, *, leaving: bool = False) -> None:
        """Queue the publication of `counters` (this process's, all time) in `pipe`, or its fold when `leaving`."""
        own = counters if self._baseline is None else subtract_counters(counters, self._baseline)
        keys = [
            self._counters_key,
            self._departed_key,
            self._folded_prefix + self._publisher,
            self._alive_prefix + self._publisher,
        ]
        value = b"%d " % sequence + self._encoder.encode(own)
        first = "0" if self._landed else "1"
        args: list[bytes | str | int] = [
            self._publisher,
            value,
            self._alive_ms,
            first,
            "1" if leaving else "0",
            FOLDED_KEPT_MS,
        ]
        await self._publish(keys=keys, args=args, client=pipe)

    def landed(self, result: int, counters: Counters) -> None:
        """Note the script's answer to the publication of `counters`: written off (0), start afresh."""
        if result:
            self._landed = True
            return
        # Its last counters stay in the departed sum; what it counted since then is lost, never counted twice.
        self._publisher, self._landed, self._baseline = uuid.uuid4().hex, False, counters

    async def totals(self) -> Counters:
        """Fold the publishers no longer alive, then add up every live publisher's counters and the departed sum."""
        keys = [self._counters_key, self._departed_key]
        live, departed = await self._fold_and_read(
            keys=keys, args=[self._alive_prefix, self._folded_prefix, FOLDED_KEPT_MS]
        )
        all_counters = [departed_counters(departed)]
        for value in live:
            all_counters.append(self._decoder.decode(value.partition(b" ")[2]))
            await asyncio.sleep(0)
        return add_counters(all_counters)


def departed_counters(flat: list[bytes]) -> Counters:
    """The departed hash's fields and values (alternating, as HGETALL answers) as Counters."""
    requests: dict[tuple[str, str], list[int]] = {}
    lag: list[int] | None = None
    slo: dict[str, list[int]] = {}
    for raw_field, raw_value in zip(flat[::2], flat[1::2], strict=True):
        kind, _, rest = raw_field.decode().partition("\0")
        value = int(raw_value)
        if kind == "r":
            endpoint, status_class, slot = rest.rsplit("\0", 2)
            counts = requests.setdefault((endpoint, status_class), [0] * (len(EXPOSED_BOUNDS) + 2))
            _put(counts, slot, value)
        elif kind == "l":
            lag = lag or [0] * (len(LAG_BOUNDS) + 2)
            _put(lag, rest, value)
        elif kind == "o":
            name, which = rest.rsplit("\0", 1)
            slo.setdefault(name, [0, 0])[which == "b"] = value
    by_endpoint: dict[str, dict[str, Buckets]] = {}
    for (endpoint, status_class), counts in requests.items():
        by_endpoint.setdefault(endpoint, {})[status_class] = Buckets(tuple(counts[:-1]), counts[-1])
    return Counters(
        by_endpoint,
        Buckets(tuple(lag[:-1]), lag[-1]) if lag else None,
        {name: (good, bad) for name, (good, bad) in slo.items()},
    )


def _put(counts: list[int], slot: str, value: int) -> None:
    # Bucket slots are 1-based (Lua's), the sum is the last entry.
    index = len(counts) - 1 if slot == "s" else int(slot) - 1
    if not 0 <= index < len(counts) - (slot != "s"):
        raise ValueError(f"bucket {slot} is not one of this version's buckets")
    counts[index] = value
