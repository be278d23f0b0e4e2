"""The protocol between the adapter and its Lua scripts: the key layout under the prefix, one named encoder per
script laying out its KEYS and ARGV as the script's first lines name them, and the READ reply read back."""

from typing import Any, Literal, NamedTuple, get_args

from redis.asyncio import Redis

from infrastructure.redis import scripts
from infrastructure.redis.client import CircuitBreaker
from infrastructure.redis.invalidation import EVERYTHING, KEY, TAG, Invalidation, Kind, encode_invalidation

ScriptName = Literal["READ", "SET", "FENCED_SET", "TAG", "INVALIDATE", "INVALIDATE_TAG", "FENCE_ALL", "PRUNE"]


class ScriptCall(NamedTuple):
    """One run of a script: which one, and its KEYS and ARGV."""

    script: ScriptName
    keys: list[str]
    args: list[Any]


class Entry(NamedTuple):
    """A live entry as READ returns it: its remaining time, its msgpack value and its tags."""

    ttl_ms: int
    data: bytes
    tags: list[str]


class ScriptArgs:
    """The encoders of every script's arguments for one instance under one prefix."""

    def __init__(self, prefix: str, origin: str, fence_window_ms: int) -> None:
        self.prefix = prefix
        self._origin = origin
        self._fence_ms = fence_window_ms

    def value_key(self, key: str) -> str:
        """The hash holding the value and the tags of `key` (a pattern when `key` is `*`)."""
        return f"{self.prefix}:k:{key}"

    def tag_index(self, tag: str) -> str:
        """The sorted set of the keys carrying `tag` (a pattern when `tag` is `*`)."""
        return f"{self.prefix}:t:{tag}"

    def tag_list(self) -> str:
        """The sorted set of every indexed tag."""
        return f"{self.prefix}:tags"

    def read(self, key: str) -> ScriptCall:
        """READ: the entry under `key`, or the epoch when it is missing."""
        return ScriptCall("READ", [self.value_key(key)], [self.prefix])

    def set(self, key: str, data: bytes, ttl_ms: int) -> ScriptCall:
        """SET: store `data` under `key`, keeping its tags, and fence the loads of it."""
        args = [self.prefix, self._message(KEY, key), key, data, ttl_ms, self._fence_ms]
        return ScriptCall("SET", [self.value_key(key)], args)

    def fenced_set(self, key: str, data: bytes, ttl_ms: int, epoch: int, tags: tuple[str, ...]) -> ScriptCall:
        """FENCED_SET: store a loaded value with its tags unless the key, a tag or everything was invalidated after
        `epoch`."""
        return ScriptCall("FENCED_SET", [self.value_key(key)], [self.prefix, key, data, ttl_ms, epoch, *tags])

    def tag(self, key: str, tags: tuple[str, ...]) -> ScriptCall:
        """TAG: attach `tags` to the live entry under `key`."""
        return ScriptCall("TAG", [self.value_key(key)], [self.prefix, self._message(KEY, key), key, *tags])

    def invalidate(self, key: str) -> ScriptCall:
        """INVALIDATE: remove `key` and fence the loads of it."""
        args = [self.prefix, self._message(KEY, key), key, self._fence_ms]
        return ScriptCall("INVALIDATE", [self.value_key(key)], args)

    def invalidate_tag(self, tag: str) -> ScriptCall:
        """INVALIDATE_TAG: remove every key carrying `tag` and fence the loads of them."""
        args = [self.prefix, self._message(TAG, tag), tag, self._fence_ms]
        return ScriptCall("INVALIDATE_TAG", [self.tag_index(tag)], args)

    def fence_all(self) -> ScriptCall:
        """FENCE_ALL: fence every load in flight and tell every L1 to drop everything."""
        return ScriptCall("FENCE_ALL", [], [self.prefix, self._message(EVERYTHING, ""), self._fence_ms])

    def prune(self, first: int, count: int) -> ScriptCall:
        """PRUNE: drop the expired members of `count` tag indexes from the `first` on."""
        return ScriptCall("PRUNE", [], [self.prefix, first, count])

    def _message(self, kind: Kind, name: str) -> bytes:
        return encode_invalidation(Invalidation(self._origin, kind, name))


def read_entry(reply: Any) -> Entry | int:
    """The entry READ returned, or the epoch it returned for a missing key."""
    if isinstance(reply, int):
        return reply
    fields = dict(zip(reply[1::2], reply[2::2], strict=True))
    tags = [field[2:].decode() for field in fields if field.startswith(b"t:")]
    return Entry(reply[0], fields[b"v"], tags)


class Scripts:
    """The scripts registered on a client, each run through the breaker: RedisUnavailable when that fails."""

    def __init__(self, client: "Redis", breaker: CircuitBreaker) -> None:
        self._breaker = breaker
        self._registered = {name: client.register_script(getattr(scripts, name)) for name in get_args(ScriptName)}

    async def run(self, call: ScriptCall) -> Any:
        """The script's reply."""
        return await self._breaker.call(self._registered[call.script], call.keys, call.args)
