"""The Lua scripts: every operation that reads and then writes runs as one script, so
a capacity check, an expiry prune or a hand-over to the in-flight set is atomic.

An *entry* in a channel list is ``EXPIRES(15 digits, ms, server clock) CHANNEL \\0 ID \\0
DATA``: the full channel name (so one ``prefix!`` list carries many channels), a delivery
id (durable channels only) and the msgpack body. Server time (``TIME``) is used for
expiry, so clients with skewed clocks still agree.
"""

from __future__ import annotations

_NOW = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local function expires(entry) return tonumber(string.sub(entry, 1, 15)) end
local function prune(list)
  while true do
    local head = redis.call('LINDEX', list, 0)
    if not head or expires(head) > now then return end
    redis.call('LPOP', list)
  end
end
"""

_ROOM = """
local function room(list, capacity)
  if redis.call('LLEN', list) < capacity then return true end
  prune(list)  -- only a full list is worth pruning: receivers skip expired entries
  return redis.call('LLEN', list) < capacity
end
"""

#: KEYS[1] list. ARGV: entry tail (channel \0 id \0 data), capacity, ttl ms.
#: Returns the server time in ms when queued (the sender learns the server's clock from
#: it), 0 when the channel is full.
SEND = (
    _NOW
    + _ROOM
    + """
local list = KEYS[1]
if not room(list, tonumber(ARGV[2])) then return 0 end
redis.call('RPUSH', list, string.format('%015d', now + tonumber(ARGV[3])) .. ARGV[1])
redis.call('PEXPIRE', list, ARGV[3])
return now
"""
)

#: KEYS: member lists. ARGV: data, ttl ms, then per key: capacity, channel.
#: One call per shard delivers to every member there; full members are skipped.
GROUP_SEND = (
    _NOW
    + _ROOM
    + """
local data, ttl = ARGV[1], tonumber(ARGV[2])
local head = string.format('%015d', now + ttl)
local full = 0
for i, list in ipairs(KEYS) do
  if room(list, tonumber(ARGV[1 + 2 * i])) then
    redis.call('RPUSH', list, head .. ARGV[2 + 2 * i] .. '\\0\\0' .. data)
    redis.call('PEXPIRE', list, ttl)
  else
    full = full + 1
  end
end
return full
"""
)

#: KEYS[1] group zset. ARGV: channel, group expiry ms.
GROUP_ADD = (
    _NOW
    + """
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""
)

#: KEYS[1] group zset. Drops lapsed memberships, returns the live members.
GROUP_MEMBERS = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""
)

#: KEYS: (list, held zset, held hash) per channel. ARGV: modes (one letter per channel:
#: n = take one, b = take up to ARGV[2], d = durable), batch, visibility ms, held ttl ms,
#: first index to look at (rotated by the caller for fairness).
#: Returns {-1, server time in ms} when nothing is ready, else
#: {index, attempt, delivery id, entry...} (attempt 0 and id '' unless durable).
POP = (
    _NOW
    + """
local n = #KEYS / 3
local modes, batch = ARGV[1], tonumber(ARGV[2])
local visible, ttl, start = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])

local function delivery_id(entry)
  local a = string.find(entry, '\\0', 16, true)
  local b = string.find(entry, '\\0', a + 1, true)
  local id = string.sub(entry, a + 1, b - 1)
  if id == '' then id = redis.sha1hex(entry) end
  return id
end

local function reclaim(list, held, msgs)
  local due = redis.call('ZRANGEBYSCORE', held, '-inf', now, 'LIMIT', 0, 100)
  for k = #due, 1, -1 do
    local id = due[k]
    local entry = redis.call('HGET', msgs, id)
    redis.call('ZREM', held, id)
    if entry and expires(entry) > now then
      redis.call('LPUSH', list, entry)
      local left = expires(entry) - now
      if redis.call('PTTL', list) < left then redis.call('PEXPIRE', list, left) end
    else
      redis.call('HDEL', msgs, id, 'n:' .. id)
    end
  end
end

for j = 0, n - 1 do
  local i = (start + j) % n
  local list, held, msgs = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3]
  local mode = string.sub(modes, i + 1, i + 1)
  if mode == 'd' then reclaim(list, held, msgs) end
  local out = {i, 0, ''}
  local limit = 1
  if mode == 'b' then limit = batch end
  while #out < limit + 3 do
    local entry = redis.call('LPOP', list)
    if not entry then break end
    if expires(entry) > now then out[#out + 1] = entry end
  end
  if #out > 3 then
    if mode == 'd' then
      local id = delivery_id(out[4])
      redis.call('ZADD', held, now + visible, id)
      redis.call('HSET', msgs, id, out[4])
      out[2] = redis.call('HINCRBY', msgs, 'n:' .. id, 1)
      out[3] = id
      redis.call('PEXPIRE', held, ttl)
      redis.call('PEXPIRE', msgs, ttl)
    end
    return out
  end
end
return {-1, now}
"""
)

#: KEYS[1] list. ARGV: entries taken by a pop that was abandoned, in order.
#: Puts them back at the head, so the next receiver gets them first.
REQUEUE = (
    _NOW
    + """
local last = 0
for i = #ARGV, 1, -1 do
  local entry = ARGV[i]
  if expires(entry) > now then
    redis.call('LPUSH', KEYS[1], entry)
    last = math.max(last, expires(entry) - now)
  end
end
if last > 0 and redis.call('PTTL', KEYS[1]) < last then redis.call('PEXPIRE', KEYS[1], last) end
return last
"""
)

#: KEYS: held zset, held hash. ARGV[1]: delivery id. The consumer finished: forget it.
ACK = """
redis.call('ZREM', KEYS[1], ARGV[1])
return redis.call('HDEL', KEYS[2], ARGV[1], 'n:' .. ARGV[1])
"""
