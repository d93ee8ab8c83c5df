-- release.lua: frees every hold of a visitor (at checkout); bookings stay.
-- Touches: taken, holds, the visitor's mine set, and ended holds of anyone
-- (KEYS as in lib.lua).
-- ARGV[1] visitor
-- Returns {released = the number of holds released}.
local visitor = ARGV[1]
local now = now_ms()
sweep(now)
local n = 0
for _, seat in ipairs(redis.call('SMEMBERS', mine_key(visitor))) do
  local kind, _, owner = live(seat, now)
  if kind == 'h' and owner == visitor then
    free(seat, visitor)
    n = n + 1
  elseif not kind or owner ~= visitor then
    redis.call('SREM', mine_key(visitor), seat)
  end
end
return answer({released = n})
