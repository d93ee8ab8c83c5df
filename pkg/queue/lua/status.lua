-- status.lua: where a ticket stands; a status request counts as presence.
-- Touches: cfg, pre, adm, gens, the line generations, users, rate, stats,
-- and clock when the pre-queue opens (KEYS as in lib.lua).
-- ARGV[1] ticket
-- Returns the status reply of lib.lua (created false), or refuses
-- ROOM_NOT_FOUND, TICKET_NOT_FOUND.
local cfg = load_cfg()
if not cfg then return answer(ROOM_NOT_FOUND) end
local now = now_ms()
open_prequeue(cfg, now)
return answer(status(cfg, now, ARGV[1], false))
