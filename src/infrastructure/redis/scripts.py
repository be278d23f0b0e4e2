"""The Lua scripts behind RedisCache: each write is one atomic round trip, timed by the server's clock.

Each script's arguments are laid out by its encoder in protocol.py, of the same name, and named in the script's
first lines; a script that publishes gets its message ready-made (invalidation.py) and publishes it verbatim.

Layout under the prefix P: `P:k:<key>` a hash (`v` the msgpack value, `t:<tag>` one field per tag), expiring with
the entry; `P:t:<tag>` the tag's index, a sorted set of keys scored by their expiry (ms), itself expiring with its
newest member and pruned of expired members; `P:tags` every indexed tag scored by its newest member's expiry;
`P:epoch` a counter bumped by every invalidation; `P:fk:<key>`, `P:ft:<tag>` and `P:fall` the epoch of the last
invalidation of a key, of a tag and of everything, kept for the fence window; `P:inv` the pub/sub channel on which
invalidations reach every instance's L1.
"""

_COMMON = """
local P = ARGV[1]
local function publish(message)
    redis.call('PUBLISH', P .. ':inv', message)
end
local function now_ms()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function index(key, tag, expires, now)
    local zkey = P .. ':t:' .. tag
    redis.call('ZREMRANGEBYSCORE', zkey, '-inf', now)
    redis.call('ZADD', zkey, expires, key)
    if redis.call('PTTL', zkey) < expires - now then
        redis.call('PEXPIRE', zkey, expires - now)
    end
    redis.call('ZADD', P .. ':tags', 'GT', expires, tag)
end
local function fence(name, window)
    local epoch = redis.call('INCR', P .. ':epoch')
    redis.call('SET', name, epoch, 'PX', window)
end
local function store(vkey, key, value, ttl, now)
    local fields = redis.call('HKEYS', vkey)
    redis.call('HSET', vkey, 'v', value)
    redis.call('PEXPIRE', vkey, ttl)
    for _, field in ipairs(fields) do
        if string.sub(field, 1, 2) == 't:' then
            index(key, string.sub(field, 3), now + ttl, now)
        end
    end
end
local function unlink(vkey, key)
    local fields = redis.call('HKEYS', vkey)
    if #fields == 0 then
        return 0
    end
    for _, field in ipairs(fields) do
        if string.sub(field, 1, 2) == 't:' then
            redis.call('ZREM', P .. ':t:' .. string.sub(field, 3), key)
        end
    end
    redis.call('UNLINK', vkey)
    return 1
end
"""

# The entry as {ttl ms, value, field, 1, ...}, or the epoch when it is missing.
READ = """
local P = ARGV[1]
local entry = redis.call('HGETALL', KEYS[1])
if #entry == 0 then
    return tonumber(redis.call('GET', P .. ':epoch') or '0')
end
table.insert(entry, 1, redis.call('PTTL', KEYS[1]))
return entry
"""

# Keeps the key's tags while it lives.
SET = (
    _COMMON
    + """
local message, key, value, ttl, window = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
local now = now_ms()
store(KEYS[1], key, value, ttl, now)
fence(P .. ':fk:' .. key, window)
publish(message)
return 1
"""
)

# 1 stored, 0 fenced off.
FENCED_SET = (
    _COMMON
    + """
local key, value, ttl, started = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local FIRST_TAG = 6
local function newer(name)
    local epoch = redis.call('GET', name)
    return epoch and tonumber(epoch) > started
end
if newer(P .. ':fall') or newer(P .. ':fk:' .. key) then
    return 0
end
for i = FIRST_TAG, #ARGV do
    if newer(P .. ':ft:' .. ARGV[i]) then
        return 0
    end
end
local now = now_ms()
store(KEYS[1], key, value, ttl, now)
for i = FIRST_TAG, #ARGV do
    redis.call('HSET', KEYS[1], 't:' .. ARGV[i], 1)
    index(key, ARGV[i], now + ttl, now)
end
return 1
"""
)

# 1 when the key lives and was tagged.
TAG = (
    _COMMON
    + """
local message, key = ARGV[2], ARGV[3]
local FIRST_TAG = 4
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
    return 0
end
local now = now_ms()
for i = FIRST_TAG, #ARGV do
    redis.call('HSET', KEYS[1], 't:' .. ARGV[i], 1)
    index(key, ARGV[i], now + ttl, now)
end
publish(message)
return 1
"""
)

# 1 when the key was cached.
INVALIDATE = (
    _COMMON
    + """
local message, key, window = ARGV[2], ARGV[3], ARGV[4]
fence(P .. ':fk:' .. key, window)
local removed = unlink(KEYS[1], key)
publish(message)
return removed
"""
)

# How many live keys carried the tag.
INVALIDATE_TAG = (
    _COMMON
    + """
local message, tag, window = ARGV[2], ARGV[3], ARGV[4]
fence(P .. ':ft:' .. tag, window)
local field = 't:' .. tag
local doomed, others = {}, {}
for _, key in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now_ms(), '+inf')) do
    local fields = redis.call('HKEYS', P .. ':k:' .. key)
    local tagged = false
    for _, name in ipairs(fields) do
        tagged = tagged or name == field
    end
    if tagged then
        doomed[#doomed + 1] = P .. ':k:' .. key
        for _, name in ipairs(fields) do
            if name ~= field and string.sub(name, 1, 2) == 't:' then
                local zkey = P .. ':t:' .. string.sub(name, 3)
                others[zkey] = others[zkey] or {}
                table.insert(others[zkey], key)
            end
        end
    end
end
-- One command per thousand names instead of one per name: a 1,000-key tag costs a few hundred microseconds.
for first = 1, #doomed, 1000 do
    redis.call('UNLINK', unpack(doomed, first, math.min(first + 999, #doomed)))
end
for zkey, members in pairs(others) do
    for first = 1, #members, 1000 do
        redis.call('ZREM', zkey, unpack(members, first, math.min(first + 999, #members)))
    end
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', P .. ':tags', tag)
publish(message)
return #doomed
"""
)

# Fences every load in flight and tells every L1 to drop everything.
FENCE_ALL = (
    _COMMON
    + """
local message, window = ARGV[2], ARGV[3]
fence(P .. ':fall', window)
publish(message)
return 1
"""
)

# Drops expired members of a batch of tag indexes: {tags seen, pruned}.
PRUNE = (
    _COMMON
    + """
local first, count = tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', P .. ':tags', '-inf', now)
local tags = redis.call('ZRANGE', P .. ':tags', first, first + count - 1)
local pruned = 0
for _, tag in ipairs(tags) do
    pruned = pruned + redis.call('ZREMRANGEBYSCORE', P .. ':t:' .. tag, '-inf', now)
end
return {#tags, pruned}
"""
)
