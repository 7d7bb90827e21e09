"""The Lua scripts: every operation that reads and then writes runs as one script, so
a capacity check, an expiry prune or a hand-over to the in-flight set is atomic. (The
plain send writes first and checks after: see TAKE_BACK.)

An *entry* in a channel list is ``EXPIRES(15 digits, ms, server clock) CHANNEL \\0 ID \\0
DATA``: the full channel name (so one ``prefix!`` list carries many channels; left out,
the list's own channel: a group_send pushes one entry to every plain member), a
delivery id (durable channels only) and the msgpack body. Server time (``TIME``, or as a
plain sender last learnt it) is used for expiry, so clients with skewed clocks still agree.

List TTLs: whoever writes to a list leaves it at least twice the expiry to live (and
never shortens it), so an abandoned list vanishes within two expiries of its newest
entry. That slack is what lets a group_send skip the TTL of every member's list: the
group's *marker* (``gt:`` key, per shard) records until when all its members' lists are
known to live, and holds while the membership has not grown.
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

#: KEYS[1] list. ARGV: capacity, ttl ms, entry tail (channel \0 id \0 data): the entry
#: last, so a sender keeps the rest of the command packed (layer.py).
#: Returns the server time in ms when queued (the sender learns the server's clock from
#: it), 0 when the channel is full.
SEND = (
    _NOW
    + _ROOM
    + """
local list = KEYS[1]
if not room(list, tonumber(ARGV[1])) then return 0 end
redis.call('RPUSH', list, string.format('%015d', now + tonumber(ARGV[2])) .. ARGV[3])
redis.call('PEXPIRE', list, 2 * tonumber(ARGV[2]))
return now
"""
)

#: A plain send is no script: ``RPUSH`` of an entry whose expiry the sender worked out on
#: the server's clock (learnt from replies), then ``PEXPIRE``; a Lua call costs Redis
#: several times those two commands. Only a push that finds the list past its capacity
#: runs this. KEYS[1] list. ARGV: capacity, the entry pushed.
#: Returns 1 when the entry may stay (receivers made room meanwhile, expired entries made
#: way for it, or a receiver took it already: delivered), 0 when it was taken back (the
#: channel is full). The entry is never moved, so order holds.
TAKE_BACK = (
    _NOW
    + """
local list, capacity = KEYS[1], tonumber(ARGV[1])
if redis.call('LLEN', list) <= capacity then return 1 end
prune(list)
if redis.call('LLEN', list) <= capacity then return 1 end
if redis.call('LREM', list, -1, ARGV[2]) == 0 then return 1 end
return 0
"""
)

#: KEYS: a zset of members of the group whose lists live here (on this shard, or in this
#: slot of a cluster) and its marker. ARGV: data, ttl ms, list key prefix and suffix
#: (a member's list is prefix .. queue .. suffix), members per call, capacity, inbox
#: capacity, number of rules, that many (Lua pattern, capacity) pairs (see
#: capacities.py); a further call adds the first call's time, 1 if it is the last call,
#: and its explicit members (the zset is not read).
#: Pushes to the first ``members per call`` members and returns the time, then the rest
#: (read from the zset: the caller sends those in further calls, so one call holds Redis
#: briefly). A full member is skipped. While the marker promises every member's list
#: outlives this message, no list's TTL is touched (except a list this push created);
#: otherwise every list gets twice the expiry and the marker is renewed once the whole
#: group is done: one PEXPIRE per member per expiry period instead of one per send. A big
#: group's first call leaves the marker *pending* (minus its time, trusted by no one); the
#: last call renews it only if it is still pending, so a member added in between (whose
#: list no call touched) voids the renewal as it voids the marker.
GROUP_SEND = (
    _NOW
    + """
local data, ttl, lists, tail = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local chunk, capacity, inbox = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local rules, members = {}, {}
local first = 9 + 2 * tonumber(ARGV[8])
for i = 9, first - 1, 2 do rules[#rules + 1] = {ARGV[i], tonumber(ARGV[i + 1])} end
local explicit = #ARGV >= first
local started, last = now, true  -- the first call's time; whether this call ends the send
if explicit then
  started, last = tonumber(ARGV[first]), ARGV[first + 1] == '1'
  for i = first + 2, #ARGV do members[#members + 1] = ARGV[i] end
else
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  members = redis.call('ZRANGE', KEYS[1], 0, -1)
  last = #members <= chunk
end
-- every member's list here lives past this message already
local marker = tonumber(redis.call('GET', KEYS[2]) or 0)
local topped = marker >= now + ttl

local call, find, sub = redis.call, string.find, string.sub
local smallest = math.min(capacity, inbox)
for _, rule in ipairs(rules) do smallest = math.min(smallest, rule[2]) end
local function size_of(queue, default)
  for _, rule in ipairs(rules) do
    if find(queue, rule[1]) then return rule[2] end
  end
  return default
end

-- One more entry went over a list's size: take it back, drop expired entries and try
-- again (only a full list is worth pruning: receivers skip expired entries).
local function retry(list, entry, size)
  call('RPOP', list)
  prune(list)
  if call('LLEN', list) >= size then return 0 end
  return call('RPUSH', list, entry)
end

local head, fresh = string.format('%015d', now + ttl), {}
local shared = head .. '\\0\\0' .. data  -- a plain channel's entry: its list names it
for k = 1, math.min(#members, chunk) do
  local member = members[k]
  local bang = find(member, '!', 1, true)
  local queue, entry = member, shared
  if bang then  -- a process's sockets share its inbox: each entry names its channel
    queue, entry = sub(member, 1, bang), head .. member .. '\\0\\0' .. data
  end
  local list = lists .. queue .. tail
  local n = call('RPUSH', list, entry)
  if n > smallest then  -- the exact size matters only past the smallest one
    local size = size_of(queue, bang and inbox or capacity)
    if n > size then n = retry(list, entry, size) end
  end
  if n == 1 or not (topped or fresh[list]) then  -- a full list too: it may take the next
    call('PEXPIRE', list, 2 * ttl)
    fresh[list] = true
  end
end
if not topped then
  if not last then
    if not explicit then redis.call('SET', KEYS[2], -started, 'PX', 2 * ttl) end
  elseif not explicit or marker == -started then
    redis.call('SET', KEYS[2], started + 2 * ttl, 'PX', started + 2 * ttl - now)
  end
end
local rest = {now}
for k = chunk + 1, #members do rest[#rest + 1] = members[k] end
return rest
"""
)

#: KEYS: group zset, its marker (a new member's list is not covered by it), or a
#: cluster group's index of member queues alone. ARGV: member, group expiry ms.
GROUP_ADD = (
    _NOW
    + """
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if KEYS[2] then redis.call('DEL', KEYS[2]) end
"""
)

#: KEYS: a cluster group's index of member queues. The queues whose members have not
#: all lapsed.
GROUP_QUEUES = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""
)

#: Durable channels: entries whose visibility timeout ran out go back to the head of
#: their list (``reclaim``); a taken entry is held, invisible for ``visible`` ms, until
#: acknowledged (``hold``: its attempt and delivery id; ``k``, the entry's place in its
#: batch, orders the entries of one batch when they come back). Needs ``visible``, ``ttl``.
_DURABLE = """
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
      left = math.max(left, ttl)  -- (durable_expiry: above twice the expiry, see above)
      if redis.call('PTTL', list) < left then redis.call('PEXPIRE', list, left) end
    else
      redis.call('HDEL', msgs, id, 'n:' .. id)
    end
  end
end

local function hold(entry, held, msgs, k)
  local id = delivery_id(entry)
  redis.call('ZADD', held, now + visible + math.min(k, 1023) / 1024, id)
  redis.call('HSET', msgs, id, entry)
  local attempt = redis.call('HINCRBY', msgs, 'n:' .. id, 1)
  redis.call('PEXPIRE', held, ttl)
  redis.call('PEXPIRE', msgs, ttl)
  return attempt, id
end
"""

#: What POP and POP_MANY share: their arguments (``most``: how many entries a channel,
#: or the whole call, may give), the server's time, and holding durable entries.
_POP_ARGS = (
    _NOW
    + """
local n = #KEYS / 3
local modes, most = ARGV[1], tonumber(ARGV[2])
local visible, ttl, start = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
"""
    + _DURABLE
)

#: KEYS: (list, held zset, held hash) per channel. ARGV: modes (one letter per channel:
#: n = take one, b = take up to ARGV[2], d = durable), batch, visibility ms, held ttl ms,
#: first index to look at (rotated by the caller for fairness).
#: Returns {-1, server time in ms} when nothing is ready, else
#: {index, attempt, delivery id, entry...} (attempt 0 and id '' unless durable).
POP = (
    _POP_ARGS
    + """
for j = 0, n - 1 do
  local i = (start + j) % n
  local list, held, msgs = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3]
  local mode = string.sub(modes, i + 1, i + 1)
  if mode == 'd' then reclaim(list, held, msgs) end
  local out = {i, 0, ''}
  local limit = 1
  if mode == 'b' then limit = most end
  while #out < limit + 3 do
    local entry = redis.call('LPOP', list)
    if not entry then break end
    if expires(entry) > now then out[#out + 1] = entry end
  end
  if #out > 3 then
    if mode == 'd' then out[2], out[3] = hold(out[4], held, msgs, 0) end
    return out
  end
end
return {-1, now}
"""
)

#: A worker's batch: up to ARGV[2] ready entries across the channels, taken one per
#: channel in turn (each channel's own order kept), every durable one held as POP holds
#: it. Nothing beyond ARGV[2] is taken, so nothing waits in the receiving process.
#: KEYS and modes as POP's (b is taken like n). ARGV: modes, most to take, visibility
#: ms, held ttl ms, first index to look at.
#: {server time in ms, then per entry: index, attempt, delivery id, entry}.
POP_MANY = (
    _POP_ARGS
    + """
local out, open = {now}, {}
for j = 0, n - 1 do
  local i = (start + j) % n
  if string.sub(modes, i + 1, i + 1) == 'd' then
    reclaim(KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3])
  end
  open[#open + 1] = i
end

local function next_live(list)
  while true do
    local entry = redis.call('LPOP', list)
    if not entry or expires(entry) > now then return entry end
  end
end

local taken = 0
while taken < most and #open > 0 do
  local still = {}
  for _, i in ipairs(open) do
    if taken >= most then break end
    local entry = next_live(KEYS[3 * i + 1])
    if entry then
      local attempt, id = 0, ''
      if string.sub(modes, i + 1, i + 1) == 'd' then
        attempt, id = hold(entry, KEYS[3 * i + 2], KEYS[3 * i + 3], taken)
      end
      for _, v in ipairs({i, attempt, id, entry}) do out[#out + 1] = v end
      taken = taken + 1
      still[#still + 1] = i
    end
  end
  open = still
end
return out
"""
)

#: KEYS[1] list. ARGV: expiry ms, then entries taken by a pop that was abandoned, in
#: order. Puts them back at the head, so the next receiver gets them first.
REQUEUE = (
    _NOW
    + """
local last = 0
for i = #ARGV, 2, -1 do
  local entry = ARGV[i]
  if expires(entry) > now then
    redis.call('LPUSH', KEYS[1], entry)
    last = math.max(last, expires(entry) - now)
  end
end
if last > 0 then
  local keep = math.max(last, 2 * tonumber(ARGV[1]))
  if redis.call('PTTL', KEYS[1]) < keep then redis.call('PEXPIRE', KEYS[1], keep) end
end
return last
"""
)

#: KEYS: held zset, held hash. ARGV[1]: delivery id. The consumer finished: forget it.
ACK = """
redis.call('ZREM', KEYS[1], ARGV[1])
return redis.call('HDEL', KEYS[2], ARGV[1], 'n:' .. ARGV[1])
"""

# -- message groups (see gateways/layers/ordering.py for the rules) --------------------
#
# A group's record is the hash ``{prefix}o:{group}`` on the shard of the group's own
# inbox: ``d`` the last message that ended, ``w`` the message whose end wakes the
# interface, ``n`` how many are parked, ``p:<seq>`` a parked message (channel \0 data),
# ``l`` after a release: missing numbers below it went with a dead worker (skipped).
# ``{prefix}od`` (per shard) scores the groups with parked messages by when the oldest
# is released anyway.

#: The server's time in ms, read only by a script that needs it (most steps do not).
_CLOCK = """
local function clock()
  local t = redis.call('TIME')
  return t[1] * 1000 + math.floor(t[2] / 1000)
end
"""

_DONE = """
local function done_of(record) return tonumber(redis.call('HGET', record, 'd') or '-1') end
"""

#: KEYS: record, due zset. ARGV: seq, parked payload, timeout ms, ttl ms, group.
#: 1: run it now; 0: parked; 2: parked, and the due zset was empty (a cluster layer
#: then lists the inbox in its ``oi`` key, see keys.py).
ORDER_BEGIN = (
    _CLOCK
    + _DONE
    + """
local seq = tonumber(ARGV[1])
if done_of(KEYS[1]) >= seq - 1 then return 1 end
redis.call('HSET', KEYS[1], 'p:' .. seq, ARGV[2])
redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local first = redis.call('ZCARD', KEYS[2]) == 0
redis.call('ZADD', KEYS[2], 'NX', clock() + tonumber(ARGV[3]), ARGV[5])
if first then return 2 end
return 0
"""
)

#: KEYS: record, due zset. ARGV: seq, timeout ms, ttl ms, group, last (1: nothing follows
#: seq, so the record goes unless something is parked).
#: {wake (0/1), the parked successor's payload (absent when none)}.
ORDER_END = (
    _CLOCK
    + """
local record = KEYS[1]
local got = redis.call('HMGET', record, 'd', 'w', 'l')
local done, woken_at, lost_below = tonumber(got[1] or '-1'), got[2], tonumber(got[3] or '-1')
if tonumber(ARGV[1]) > done then
  done = tonumber(ARGV[1])
  redis.call('HSET', record, 'd', done)
end
redis.call('PEXPIRE', record, ARGV[3])
local wake = 0
if woken_at and done >= tonumber(woken_at) then
  wake = 1
  redis.call('HDEL', record, 'w')
end
local field = 'p:' .. (done + 1)
local following = redis.call('HGET', record, field)
if not following and done < lost_below then
  -- recovering after a release: what is missing below 'l' went with a dead worker
  local lowest = nil
  for _, name in ipairs(redis.call('HKEYS', record)) do
    if string.sub(name, 1, 2) == 'p:' then
      local seq = tonumber(string.sub(name, 3))
      if not lowest or seq < lowest then lowest = seq end
    end
  end
  if lowest and lowest <= lost_below then
    field = 'p:' .. lowest
    following = redis.call('HGET', record, field)
    redis.call('HSET', record, 'd', lowest - 1)
  end
end
if not following then
  if ARGV[5] == '1' and tonumber(redis.call('HGET', record, 'n') or '0') <= 0 then
    redis.call('DEL', record)
  end
  return {wake}
end
redis.call('HDEL', record, field)
if redis.call('HINCRBY', record, 'n', -1) > 0 then
  redis.call('ZADD', KEYS[2], clock() + tonumber(ARGV[2]), ARGV[4])
else
  redis.call('ZREM', KEYS[2], ARGV[4])
end
return {wake, following}
"""
)

#: KEYS: due zset. ARGV: record key prefix, timeout ms, most groups per call.
#: {groups still in the due zset, group, payload, group, payload, ...}: the oldest
#: parked message of each overdue group.
ORDER_RELEASE = (
    _NOW
    + _DONE
    + """
local out = {0}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, group in ipairs(due) do
  local record = ARGV[1] .. group
  local lowest, highest = nil, nil
  for _, field in ipairs(redis.call('HKEYS', record)) do
    if string.sub(field, 1, 2) == 'p:' then
      local seq = tonumber(string.sub(field, 3))
      if not lowest or seq < lowest then lowest = seq end
      if not highest or seq > highest then highest = seq end
    end
  end
  if lowest then
    table.insert(out, group)
    table.insert(out, redis.call('HGET', record, 'p:' .. lowest))
    redis.call('HSET', record, 'l', highest)
    redis.call('HDEL', record, 'p:' .. lowest)
    if lowest - 1 > done_of(record) then redis.call('HSET', record, 'd', lowest - 1) end
  end
  if lowest and redis.call('HINCRBY', record, 'n', -1) > 0 then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), group)
  else
    redis.call('ZREM', KEYS[1], group)
  end
end
out[1] = redis.call('ZCARD', KEYS[1])
return out
"""
)

#: KEYS: a cluster layer's list of inboxes with parked messages. ARGV: inbox, ttl ms.
#: Lists the inbox (scored by when), forgetting inboxes not listed again for ``ttl``.
ORDER_ENLIST = (
    _NOW
    + """
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""
)

#: KEYS: the list of inboxes. {server time ms, inbox, inbox, ...}.
ORDER_INBOXES = (
    _NOW
    + """
local out = redis.call('ZRANGE', KEYS[1], 0, -1)
table.insert(out, 1, now)
return out
"""
)

#: KEYS: the list of inboxes. ARGV: a time read by ORDER_INBOXES, then inboxes whose due
#: zset was seen empty after it. Drops those not listed again since that time (a park
#: that raced the release listed it again, and it stays).
ORDER_DELIST = """
local removed = 0
for i = 2, #ARGV do
  local listed = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if listed and tonumber(listed) < tonumber(ARGV[1]) then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return removed
"""

#: KEYS: record. ARGV: seq, ttl ms. 1: it ended already; 0: its end will wake.
ORDER_WAIT = (
    _DONE
    + """
local seq = tonumber(ARGV[1])
if done_of(KEYS[1]) >= seq then return 1 end
local w = redis.call('HGET', KEYS[1], 'w')
if not w or tonumber(w) > seq then redis.call('HSET', KEYS[1], 'w', seq) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 0
"""
)

#: KEYS: pairs of (channel list, held zset: durable messages taken, not yet acknowledged).
#: {server time ms, then per pair: waiting, taken, expiry of the oldest waiting (or -1)}.
FIGURES = (
    _NOW
    + """
local out = {now}
for i = 1, #KEYS, 2 do
  local head = redis.call('LINDEX', KEYS[i], 0)
  table.insert(out, redis.call('LLEN', KEYS[i]))
  table.insert(out, redis.call('ZCARD', KEYS[i + 1]))
  table.insert(out, head and expires(head) or -1)
end
return out
"""
)
