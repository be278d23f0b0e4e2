"""Time passing inside Redis as an explicit step: every expiry under a prefix moved into the past on the server."""

import redis.asyncio

from tests.services import REDIS_URL

# Every key under the prefix that expires is brought `shift` ms closer to its expiry (PEXPIREAT in the past
# deletes it), and so is every expiry recorded as a score: the tag indexes and the list of indexed tags.
_SHIFT = """
local prefix, shift = ARGV[1], tonumber(ARGV[2])
local cursor = '0'
repeat
    local reply = redis.call('SCAN', cursor, 'MATCH', prefix .. ':*', 'COUNT', 1000)
    cursor = reply[1]
    for _, name in ipairs(reply[2]) do
        if string.sub(name, #prefix + 1, #prefix + 3) == ':t:' or name == prefix .. ':tags' then
            local scored = redis.call('ZRANGE', name, 0, -1, 'WITHSCORES')
            for i = 1, #scored, 2 do
                redis.call('ZADD', name, 'XX', tonumber(scored[i + 1]) - shift, scored[i])
            end
        end
        local expires = redis.call('PEXPIRETIME', name)
        if expires > 0 then
            redis.call('PEXPIREAT', name, expires - shift)
        end
    end
until cursor == '0'
return 1
"""


async def pass_redis_time(prefix: str, seconds: float) -> None:
    """Make `seconds` pass for every expiry under `prefix`, as Redis's own clock would, in one atomic script."""
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        await client.eval(_SHIFT, 0, prefix, int(seconds * 1000))
    finally:
        await client.aclose()
