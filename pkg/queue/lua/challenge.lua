-- challenge.lua: counts a proof-of-work challenge handed to a client address
-- and says how many that address fetched in the last minute before it, so
-- the puzzle can grow with them (docs/API.md, Proof of work).
-- Touches: cfg (reads), wr:{room}:powaddr:<address>:<10 s slot> (counters
-- that expire after 70 s).
-- ARGV[1] the address key (an IPv4 address, or an IPv6 /64)
-- Returns {pow_work = the room's puzzle size, recent = challenges in the
-- last 60 s}, or refuses ROOM_NOT_FOUND.
local cfg = load_cfg()
if not cfg then return answer(ROOM_NOT_FOUND) end
local recent = 0
if cfg.pow_work > 0 then
  local slot = math.floor(now_ms() / 10000)
  local base = PREFIX .. 'powaddr:' .. ARGV[1] .. ':'
  for i = 0, 5 do recent = recent + tonumber(redis.call('GET', base .. (slot - i)) or '0') end
  redis.call('INCR', base .. slot)
  redis.call('PEXPIRE', base .. slot, 70000)
end
return answer({pow_work = cfg.pow_work, recent = recent})
