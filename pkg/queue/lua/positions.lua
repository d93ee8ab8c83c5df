-- positions.lua: the positions of many tickets at one version, for a server
-- that must resynchronise its sockets (after its subscription dropped, or
-- when the pre-queue opened). Reads only; presence is not recorded here.
-- Touches: cfg, pre, adm, aid, users, gens, the line generations, ver (KEYS
-- as in lib.lua), wr:{room}:evid.
-- ARGV[1..n] tickets
-- Returns {version, event_id (the id of that version's event, '' before
-- any), waiting, now, tickets = {state, position, score,
-- admission_ends, admission_id, user} per ticket in ARGV's order}, state ''
-- for a ticket that is gone; or refuses ROOM_NOT_FOUND.
local cfg = load_cfg()
if not cfg then return answer(ROOM_NOT_FOUND) end
local now = now_ms()
local ids = gen_ids()
local out = {version = tonumber(redis.call('GET', K.ver) or '0'), event_id = redis.call('GET', PREFIX .. 'evid') or '',
  waiting = waiting_count(ids), now = now, tickets = {}}
local function row(state, pos, score, ends, aid, user)
  return {state = state, position = pos, score = score, admission_ends = ends, admission_id = aid, user = user}
end
for _, ticket in ipairs(ARGV) do
  local state, a = locate(ids, ticket, now)
  if state == 'waiting' then
    out.tickets[#out.tickets + 1] = row(state, position(ids, a), fmt(a), 0, '', '')
  elseif state == 'admitted' then
    out.tickets[#out.tickets + 1] = row(state, 0, '0', a, redis.call('HGET', K.aid, ticket) or '',
      redis.call('HGET', K.users, ticket) or '')
  else
    out.tickets[#out.tickets + 1] = row(state or '', 0, '0', 0, '', '')
  end
end
return answer(out)
