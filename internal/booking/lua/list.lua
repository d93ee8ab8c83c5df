-- list.lua: the whole seat map with the seats that are not available.
-- Reads only: seats, taken (KEYS as in lib.lua). Ended holds are still in
-- taken until a write frees them; the caller compares hold ends with now.
-- No ARGV.
-- Returns {now = ms, seats = {seat id, ... in map order},
-- taken = {seat id = taken value, ...}}.
local taken = {}
local h = redis.call('HGETALL', K.taken)
for i = 1, #h, 2 do taken[h[i]] = h[i + 1] end
return answer({now = now_ms(), seats = redis.call('ZRANGE', K.seats, 0, -1), taken = taken})
