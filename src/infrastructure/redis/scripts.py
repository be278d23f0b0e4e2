"""The Lua scripts behind RedisCache: each write is one atomic round trip, timed by the server's clock.

Layout under the prefix P: `P:k:<key>` a hash (`v` the msgpack value, `t:<tag>` one field per tag), expiring with
the entry; `P:t:<tag>` the tag's index, a sorted set of keys scored by their expiry (ms), itself expiring with its
newest member and pruned of expired members; `P:tags` every indexed tag scored by its newest member's expiry;
`P:epoch` a counter bumped by every invalidation; `P:fk:<key>`, `P:ft:<tag>` and `P:fall` the epoch of the last
invalidation of a key, of a tag and of everything, kept for the fence window; `P:inv` the pub/sub channel on which
invalidations reach every instance's L1.
"""

_COMMON = """
local P, ORIGIN = ARGV[1], ARGV[2]
local function publish(kind, name)
    redis.call('PUBLISH', P .. ':inv', ORIGIN .. kind .. name)
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

# KEYS: value key. ARGV: prefix. The entry as {ttl ms, value, field, 1, ...}, or the epoch when it is missing.
READ = """
local entry = redis.call('HGETALL', KEYS[1])
if #entry == 0 then
    return tonumber(redis.call('GET', ARGV[1] .. ':epoch') or '0')
end
table.insert(entry, 1, redis.call('PTTL', KEYS[1]))
return entry
"""

# KEYS: value key. ARGV: prefix, origin, key, value, ttl ms, fence window ms. Keeps the key's tags while it lives.
SET = (
    _COMMON
    + """
local now = now_ms()
store(KEYS[1], ARGV[3], ARGV[4], tonumber(ARGV[5]), now)
fence(P .. ':fk:' .. ARGV[3], ARGV[6])
publish('k', ARGV[3])
return 1
"""
)

# KEYS: value key. ARGV: prefix, origin, key, value, ttl ms, epoch the load started at, tags... 1 stored, 0 fenced off.
FENCED_SET = (
    _COMMON
    + """
local started = tonumber(ARGV[6])
local function newer(name)
    local epoch = redis.call('GET', name)
    return epoch and tonumber(epoch) > started
end
if newer(P .. ':fall') or newer(P .. ':fk:' .. ARGV[3]) then
    return 0
end
for i = 7, #ARGV do
    if newer(P .. ':ft:' .. ARGV[i]) then
        return 0
    end
end
local now = now_ms()
local ttl = tonumber(ARGV[5])
store(KEYS[1], ARGV[3], ARGV[4], ttl, now)
for i = 7, #ARGV do
    redis.call('HSET', KEYS[1], 't:' .. ARGV[i], 1)
    index(ARGV[3], ARGV[i], now + ttl, now)
end
return 1
"""
)

# KEYS: value key. ARGV: prefix, origin, key, tags... 1 when the key lives and was tagged.
TAG = (
    _COMMON
    + """
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
    return 0
end
local now = now_ms()
for i = 4, #ARGV do
    redis.call('HSET', KEYS[1], 't:' .. ARGV[i], 1)
    index(ARGV[3], ARGV[i], now + ttl, now)
end
publish('k', ARGV[3])
return 1
"""
)

# KEYS: value key. ARGV: prefix, origin, key, fence window ms. 1 when the key was cached.
INVALIDATE = (
    _COMMON
    + """
fence(P .. ':fk:' .. ARGV[3], ARGV[4])
local removed = unlink(KEYS[1], ARGV[3])
publish('k', ARGV[3])
return removed
"""
)

# KEYS: the tag's index. ARGV: prefix, origin, tag, fence window ms. How many live keys carried the tag.
INVALIDATE_TAG = (
    _COMMON
    + """
fence(P .. ':ft:' .. ARGV[3], ARGV[4])
local field = 't:' .. ARGV[3]
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
redis.call('ZREM', P .. ':tags', ARGV[3])
publish('t', ARGV[3])
return #doomed
"""
)

# ARGV: prefix, origin, fence window ms. Fences every load in flight and tells every L1 to drop everything.
FENCE_ALL = (
    _COMMON
    + """
fence(P .. ':fall', ARGV[3])
publish('*', '')
return 1
"""
)

# ARGV: prefix, origin, first tag rank, tag count. Drops expired members of a batch of tag indexes: {tags seen, pruned}.
PRUNE = (
    _COMMON
    + """
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', P .. ':tags', '-inf', now)
local first = tonumber(ARGV[3])
local tags = redis.call('ZRANGE', P .. ':tags', first, first + tonumber(ARGV[4]) - 1)
local pruned = 0
for _, tag in ipairs(tags) do
    pruned = pruned + redis.call('ZREMRANGEBYSCORE', P .. ':t:' .. tag, '-inf', now)
end
return {#tags, pruned}
"""
)
