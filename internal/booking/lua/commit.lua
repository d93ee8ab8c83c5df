-- commit.lua: makes a staged upload the room's seat map, at once. A seat that
-- stays keeps its hold or booking; a seat that leaves the map loses it.
-- Touches: seats, taken, holds, the mine sets of visitors who lose a seat,
-- wr:{room}:seats:stage:<upload> (KEYS as in lib.lua).
-- ARGV[1] upload id
-- ARGV[2] number of seats the upload must hold (0 empties the map)
-- Returns {released = the number of live holds and bookings released}, or
-- refuses UPLOAD_INCOMPLETE when the upload does not hold ARGV[2] seats (it
-- expired, or a chunk is missing).
local now = now_ms()
local stage = PREFIX .. 'stage:' .. ARGV[1]
local want = tonumber(ARGV[2])
if redis.call('ZCARD', stage) ~= want then return answer(UPLOAD_INCOMPLETE) end
local released = 0
local taken = redis.call('HGETALL', K.taken)
for i = 1, #taken, 2 do
  local seat = taken[i]
  if want == 0 or not redis.call('ZSCORE', stage, seat) then
    local kind, datum, owner = decode(taken[i + 1])
    free(seat, owner)
    if kind == 'b' or datum > now then released = released + 1 end
  end
end
-- UNLINK frees a large old map off the main thread.
redis.call('UNLINK', K.seats)
if want > 0 then
  redis.call('RENAME', stage, K.seats)
  redis.call('PERSIST', K.seats)
end
return answer({released = released})
