-- hold.lua: a visitor holds an available seat until now + the hold length.
-- Touches: seats (read), taken, holds, the visitor's mine set, and ended holds
-- of anyone (KEYS as in lib.lua).
-- ARGV[1] visitor
-- ARGV[2] seat id
-- ARGV[3] hold length, ms
-- ARGV[4] most seats one visitor may hold or book
-- Returns {created = true, ends = hold end ms} for a new hold; created false
-- when the visitor already holds the seat (the hold is not extended); or
-- refuses SEAT_NOT_FOUND (not in the map), SEAT_UNAVAILABLE (someone holds
-- or booked it, the visitor may have booked it), LIMIT_REACHED (the visitor
-- holds or booked the most seats allowed).
local visitor, seat = ARGV[1], ARGV[2]
local now = now_ms()
sweep(now)
if not redis.call('ZSCORE', K.seats, seat) then return answer(SEAT_NOT_FOUND) end
local kind, datum, owner = live(seat, now)
if kind then
  if kind == 'h' and owner == visitor then return answer({created = false, ends = datum}) end
  return answer(SEAT_UNAVAILABLE)
end
if owned(visitor, now) >= tonumber(ARGV[4]) then return answer(LIMIT_REACHED) end
local ends = now + tonumber(ARGV[3])
redis.call('HSET', K.taken, seat, 'h:' .. fmt(ends) .. ':' .. visitor)
redis.call('ZADD', K.holds, ends, seat)
redis.call('SADD', mine_key(visitor), seat)
return answer({created = true, ends = ends})
