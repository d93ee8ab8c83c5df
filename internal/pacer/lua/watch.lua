-- watch.lua: the watchdog's check of one room's SQS loop, and its re-seed,
-- in one atomic step: of several admitters that find the same loop silent,
-- the first re-seeds it (which makes it live again) and the others see a
-- live loop, so two admitters never both seed a room.
-- KEYS[1] wr:{room}:loop (fields in claim.lua)
-- ARGV[1] interval_ms of the room now
-- ARGV[2] grace_ms: visibility timeout + slack. A loop is silent once its
--         next tick is this late: a message whose receiver died before the
--         claim comes back after the visibility timeout, so only a loop later
--         than that is dead.
-- ARGV[3] keep_ms: as in claim.lua
-- Returns cjson {loop, gen}, loop one of
--   LIVE: the loop lives (gen '0');
--   NEW: there was no loop (a new room, or the fence expired);
--   SILENT: the loop was silent.
--   For NEW and SILENT the caller sends message {gen, seq 0} with no delay;
--   the tick is due now. Older messages are now stale. gen is a string: it
--   passes cjson's 14 digits.
local LIVE, NEW, SILENT = 'live', 'new', 'silent'
local now = now_ms()
local iv, grace, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local h = redis.call('HMGET', KEYS[1], 'gen', 'due', 'beat')
local loop = NEW
if h[1] then
  loop = SILENT
  local due, beat = tonumber(h[2]) or 0, tonumber(h[3]) or 0
  -- The next tick is expected at due, or sooner when the operator shortened
  -- the interval since the last claim (the message in flight was sent with
  -- the old, longer delay).
  local expected = math.min(due, beat + math.max(iv, 1000) + 1000)
  if now <= expected + grace then return cjson.encode({loop = LIVE, gen = '0'}) end
end
-- A generation is never reused, even after the key was deleted or expired:
-- it is at least Redis's time in microseconds (below 2^53, exact in a
-- double), which only grows.
local t = redis.call('TIME')
local gen = math.max((tonumber(h[1]) or 0) + 1, tonumber(t[1]) * 1000000 + tonumber(t[2]))
redis.call('HSET', KEYS[1], 'gen', fmt(gen), 'seq', '0', 'due', fmt(now), 'beat', fmt(now))
redis.call('PEXPIRE', KEYS[1], grace + keep)
return cjson.encode({loop = loop, gen = fmt(gen)})
