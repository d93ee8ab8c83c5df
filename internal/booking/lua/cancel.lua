-- cancel.lua: a visitor cancels their booking of a seat, or releases their
-- hold on it; the seat is available again.
-- Touches: seats (read), taken, holds, the visitor's mine set, and ended holds
-- of anyone (KEYS as in lib.lua).
-- ARGV[1] visitor
-- ARGV[2] seat id
-- Returns 1 a booking was cancelled; 2 a hold was released; -1 the seat is
-- not in the map; -4 the visitor neither holds nor booked it.
local visitor, seat = ARGV[1], ARGV[2]
local now = now_ms()
sweep(now)
if not redis.call('ZSCORE', K.seats, seat) then return -1 end
local kind, _, owner = live(seat, now)
if not kind or owner ~= visitor then return -4 end
free(seat, visitor)
if kind == 'b' then return 1 end
return 2
