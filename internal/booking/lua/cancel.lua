-- cancel.lua: a visitor cancels their booking of a seat, or releases their
-- hold on it; the seat is available again.
-- Touches: seats (read), taken, holds, the visitor's mine set, and ended holds
-- of anyone (KEYS as in lib.lua).
-- ARGV[1] visitor
-- ARGV[2] seat id
-- Returns {freed = 'booking'} a booking was cancelled, {freed = 'hold'} a
-- hold was released; or refuses SEAT_NOT_FOUND (not in the map),
-- BOOKING_NOT_FOUND (the visitor neither holds nor booked it).
local visitor, seat = ARGV[1], ARGV[2]
local now = now_ms()
sweep(now)
if not redis.call('ZSCORE', K.seats, seat) then return answer(SEAT_NOT_FOUND) end
local kind, _, owner = live(seat, now)
if not kind or owner ~= visitor then return answer(BOOKING_NOT_FOUND) end
free(seat, visitor)
if kind == 'b' then return answer({freed = 'booking'}) end
return answer({freed = 'hold'})
