-- list.lua: the whole seat map with the seats that are not available.
-- Reads only: seats, taken (KEYS as in lib.lua). Ended holds are still in
-- taken until a write frees them; the caller compares hold ends with now.
-- No ARGV.
-- Returns {now ms, {seat id, ... in map order}, {seat id, taken value, ...}}.
return {now_ms(), redis.call('ZRANGE', K.seats, 0, -1), redis.call('HGETALL', K.taken)}
