-- book.lua: a visitor books the seat they hold; the hold becomes a booking,
-- which does not end by itself.
-- Touches: seats (read), taken, holds, and ended holds of anyone (KEYS as in
-- lib.lua).
-- ARGV[1] visitor
-- ARGV[2] seat id
-- ARGV[3] booking id for a new booking (never contains ':')
-- Returns {created = true, booking = booking id} booked now, created false
-- when the visitor had booked it already; or refuses SEAT_NOT_FOUND (not in
-- the map), SEAT_UNAVAILABLE (someone else holds or booked it),
-- HOLD_REQUIRED (the visitor holds no live hold on it).
local visitor, seat = ARGV[1], ARGV[2]
local now = now_ms()
sweep(now)
if not redis.call('ZSCORE', K.seats, seat) then return answer(SEAT_NOT_FOUND) end
local kind, datum, owner = live(seat, now)
if not kind then return answer(HOLD_REQUIRED) end
if owner ~= visitor then return answer(SEAT_UNAVAILABLE) end
if kind == 'b' then return answer({created = false, booking = datum}) end
redis.call('HSET', K.taken, seat, 'b:' .. ARGV[3] .. ':' .. visitor)
redis.call('ZREM', K.holds, seat)
return answer({created = true, booking = ARGV[3]})
