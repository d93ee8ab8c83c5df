-- open_step.lua: places the next part of a pre-queue entering the line (see
-- lib.lua open_prequeue); the pacer's tick calls it until nothing is left,
-- and joins and status requests run between the calls.
-- Touches: cfg, pre, preseen, gens, the current line generation, clock,
-- users, byuser, stats, ver; publishes on the room's channel once the
-- pre-queue is placed (KEYS as in lib.lua).
-- ARGV[1] most visitors placed by this call
-- Returns {left = pre-queued visitors still to place}, or refuses
-- ROOM_NOT_FOUND.
local cfg = load_cfg()
if not cfg then return answer(ROOM_NOT_FOUND) end
open_prequeue(cfg, now_ms(), tonumber(ARGV[1]))
return answer({left = (opening())})
