-- due.lua: the in-process pacer's claim of one room's tick: "is a tick due
-- now? then the next is due one interval later", atomically, so any number
-- of processes polling the same room tick it once per interval between them.
-- KEYS[1] wr:{room}:timer, a hash:
--           due   when the next tick is due (unix ms, Redis time)
--           last  when the last tick was claimed (unix ms)
-- ARGV[1] interval_ms of the room now
-- ARGV[2] keep_ms: how long the key outlives its due time (a deleted room's
--         timer cleans itself)
-- Returns cjson {due = true, next_ms}: the caller ticks now; the next is due
--           in next_ms (0 or less: at once, catching up);
--         {due = false, next_ms}: not yet; due in next_ms.
local now = now_ms()
local iv, keep = tonumber(ARGV[1]), tonumber(ARGV[2])
local h = redis.call('HMGET', KEYS[1], 'due', 'last')
local due, last = tonumber(h[1]), tonumber(h[2])
local nxt = now + iv
if due and last then
  -- A shortened interval holds at once: due one new interval after the last.
  local at = math.min(due, last + iv)
  if now < at then return cjson.encode({due = false, next_ms = at - now}) end
  -- Anchored on the due time so poll latency never accumulates; a tick late
  -- by more than half an interval (a busy host, a store failing over) goes
  -- on from now, so the room never runs faster than its pace to catch up.
  if now - at <= catchup_ms(iv) then nxt = at + iv end
end
redis.call('HSET', KEYS[1], 'due', fmt(nxt), 'last', fmt(now))
redis.call('PEXPIRE', KEYS[1], math.max(nxt - now, 0) + keep)
return cjson.encode({due = true, next_ms = nxt - now})
