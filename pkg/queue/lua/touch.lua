-- touch.lua: marks waiting tickets as present (their sockets are open).
-- A server holding many sockets calls it for all of them now and then,
-- batched, rather than once per socket per tick.
-- Touches: cfg, gens, the line generations, preseen, stats (KEYS as in
-- lib.lua).
-- ARGV[1..n] tickets; tickets neither waiting nor pre-queued are skipped.
-- Returns {seen = the number of tickets seen}, or refuses ROOM_NOT_FOUND.
local cfg = load_cfg()
if not cfg then return answer(ROOM_NOT_FOUND) end
local now = now_ms()
local ids = gen_ids()
local n = 0
for _, ticket in ipairs(ARGV) do
  local id, s = find_in_line(ids, ticket)
  if id then
    seen(cfg, now, ticket, s, id)
    n = n + 1
  elseif redis.call('ZADD', K.preseen, 'XX', 'CH', now, ticket) == 1 then
    n = n + 1
  end
end
return answer({seen = n})
