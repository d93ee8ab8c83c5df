-- put_room.lua: creates a room or updates its config, atomically.
-- Touches: cfg, ver (KEYS as in lib.lua); publishes a config event so
-- servers holding sockets notice (for example opens_at or a deletion).
-- ARGV[1] number of default field/value pairs that follow, written only when
--         the room is new; then the patch's field/value pairs.
-- Returns {created = true|false, config = {field = value, ...}} (the stored
-- config).
local nd = tonumber(ARGV[1])
local created = false
if redis.call('EXISTS', K.cfg) == 0 then
  created = true
  redis.call('HSET', K.cfg, unpack(ARGV, 2, 1 + nd * 2))
end
if #ARGV > 1 + nd * 2 then redis.call('HSET', K.cfg, unpack(ARGV, 2 + nd * 2)) end
publish({k = 'config'})
local config = {}
local h = redis.call('HGETALL', K.cfg)
for i = 1, #h, 2 do config[h[i]] = h[i + 1] end
return answer({created = created, config = config})
