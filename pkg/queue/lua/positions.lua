-- positions.lua: the positions of many tickets at one version, for a server
-- that must resynchronise its sockets (after its subscription dropped, or
-- when the pre-queue opened). Reads only; presence is not recorded here.
-- Touches: cfg, pre, adm, aid, users, gens, the line generations, ver (KEYS
-- as in lib.lua).
-- ARGV[1..n] tickets
-- Returns {ver, waiting, now, {state, position, score, admission_end,
-- admission id, user} per ticket}, state '' for a ticket that is gone; or
-- {-1} for a missing room.
local cfg = load_cfg()
if not cfg then return {-1} end
local now = now_ms()
local ids = gen_ids()
local out = {tonumber(redis.call('GET', K.ver) or '0'), waiting_count(ids), now}
for _, ticket in ipairs(ARGV) do
  local state, a = locate(ids, ticket, now)
  if state == 'waiting' then
    out[#out + 1] = {state, position(ids, a), fmt(a), 0, '', ''}
  elseif state == 'admitted' then
    out[#out + 1] = {state, 0, '0', a, redis.call('HGET', K.aid, ticket) or '',
      redis.call('HGET', K.users, ticket) or ''}
  else
    out[#out + 1] = {state or '', 0, '0', 0, '', ''}
  end
end
return out
