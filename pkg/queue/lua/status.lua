-- status.lua: where a ticket stands; a status request counts as presence.
-- Touches: cfg, pre, adm, gens, the line generations, users, rate, stats,
-- and clock when the pre-queue opens (KEYS as in lib.lua).
-- ARGV[1] ticket
-- Returns the status reply of lib.lua with code 0, or {-1} room not found,
-- {-2} ticket not found.
local cfg = load_cfg()
if not cfg then return {-1} end
local now = now_ms()
open_prequeue(cfg, now, OPEN_STEP)
return status(cfg, now, ARGV[1], 0)
