-- book.lua: a visitor books the seat they hold; the hold becomes a booking,
-- which does not end by itself.
-- Touches: seats (read), taken, holds, and ended holds of anyone (KEYS as in
-- lib.lua).
-- ARGV[1] visitor
-- ARGV[2] seat id
-- ARGV[3] booking id for a new booking (never contains ':')
-- Returns {1, booking id} booked now; {2, booking id} the visitor had booked
-- it already; {-1} the seat is not in the map; {-2} someone else holds or
-- booked it; {-3} the visitor holds no live hold on it.
local visitor, seat = ARGV[1], ARGV[2]
local now = now_ms()
sweep(now)
if not redis.call('ZSCORE', K.seats, seat) then return {-1} end
local kind, datum, owner = live(seat, now)
if not kind then return {-3} end
if owner ~= visitor then return {-2} end
if kind == 'b' then return {2, datum} end
redis.call('HSET', K.taken, seat, 'b:' .. ARGV[3] .. ':' .. visitor)
redis.call('ZREM', K.holds, seat)
return {1, ARGV[3]}
