-- claim.lua: the fence of a room's SQS loop. A received loop message
-- {room, gen, seq} may tick only if it is the very message the loop expects
-- next; claiming it moves the loop on (seq+1) in the same atomic step, so a
-- duplicate, a redelivered copy or a message of an older generation finds
-- the fence moved and is deleted without a tick.
-- KEYS[1] wr:{room}:loop, a hash:
--           gen   generation of the loop (raised by every seed)
--           seq   sequence number of the message expected next
--           due   when the next tick is due (unix ms, Redis time)
--           beat  when the loop last moved: the last claim or seed (unix ms)
-- ARGV[1] gen, ARGV[2] seq: the received message's
-- ARGV[3] interval_ms of the room now
-- ARGV[4] hold_ms: a message that arrives at most this early is claimed and
--         the caller waits for the due time; an earlier one is put back
-- ARGV[5] keep_ms: how long the fence outlives its next due time unclaimed
--         (then the watchdog has long re-seeded; the key just cleans itself)
-- Returns cjson {outcome, wait_ms, ticks, next_ms}, outcome one of
--   CLAIMED: the caller waits wait_ms, runs `ticks` ticks interval_ms apart
--     (several when the interval is under a second: those due within the
--     second), then sends message seq+1 to arrive next_ms after now;
--   EARLY: the expected message but too early (the interval was longer than
--     SQS can delay): make it visible again in wait_ms;
--   STALE: stale or duplicate: no loop, another gen or another seq.
-- Fields an outcome does not use are 0.
local CLAIMED, EARLY, STALE = 'claimed', 'early', 'stale'
local function answer(outcome, wait, ticks, nxt)
  return cjson.encode({outcome = outcome, wait_ms = wait or 0, ticks = ticks or 0, next_ms = nxt or 0})
end
local now = now_ms()
local h = redis.call('HMGET', KEYS[1], 'gen', 'seq', 'due')
if not h[1] or tonumber(h[1]) ~= tonumber(ARGV[1]) or tonumber(h[2]) ~= tonumber(ARGV[2]) then
  return answer(STALE)
end
local iv, hold, keep = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local due = tonumber(h[3]) or now
if due - now > hold then return answer(EARLY, due - now) end
-- Late by more than half an interval (a redelivery after a cut receive or a
-- crash, say): tick now, and the time lost stays lost. Catching up even a
-- second ran the room faster than its pace for seconds (each message's ticks
-- crowding the last one's); anchored within half an interval, no window of
-- the room's ticks ever holds more than its pace and one.
if due < now - catchup_ms(iv) then due = now end
local ticks = 1
if iv < 1000 then ticks = math.floor(1000 / iv) end
-- Anchored on the due time, not on now, so latency never accumulates.
local nxt = due + ticks * iv
redis.call('HSET', KEYS[1], 'seq', fmt(tonumber(h[2]) + 1), 'due', fmt(nxt), 'beat', fmt(now))
redis.call('PEXPIRE', KEYS[1], math.max(nxt - now, 0) + keep)
return answer(CLAIMED, math.max(due - now, 0), ticks, nxt - now)
