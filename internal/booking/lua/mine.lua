-- mine.lua: the seats a visitor holds or booked.
-- Reads only: seats, taken, the visitor's mine set (KEYS as in lib.lua).
-- ARGV[1] visitor
-- Returns {now = ms, seats = {{seat = id, taken = taken value, index = index
-- in the map}, ...}} for the members of the visitor's set that are still
-- taken; the caller keeps those whose value names the visitor and whose hold
-- has not ended.
local out = {}
for _, seat in ipairs(redis.call('SMEMBERS', mine_key(ARGV[1]))) do
  local v = redis.call('HGET', K.taken, seat)
  local i = redis.call('ZSCORE', K.seats, seat)
  if v and i then
    out[#out + 1] = {seat = seat, taken = v, index = tonumber(i)}
  end
end
return answer({now = now_ms(), seats = out})
