-- leave.lua: a visitor leaves the line, or ends their admission (its
-- capacity is free at once for the next tick).
-- Touches: cfg, pre, preseen, adm, aid, byaid, gens, the line generations,
-- users, byuser, ver
-- (KEYS as in lib.lua); publishes on the room's channel.
-- ARGV[1] ticket
-- ARGV[2] reason published for an admission that ends: 'left' for a visitor
--         who leaves, 'admission_ended' for a checkout.
-- Returns {left = true}, or refuses ROOM_NOT_FOUND, TICKET_NOT_FOUND.
local cfg = load_cfg()
if not cfg then return answer(ROOM_NOT_FOUND) end
local now = now_ms()
local ticket = ARGV[1]
local ids = gen_ids()
local state, a, id = locate(ids, ticket, now)
if not state then return answer(TICKET_NOT_FOUND) end
if state == 'admitted' then
  redis.call('ZREM', K.adm, ticket)
  end_admission(ticket)
  publish({k = 'leave', e = {{t = ticket, r = ARGV[2]}}, w = waiting_count(ids)})
elseif state == 'waiting' then
  redis.call('ZREM', gen_key(id), ticket)
  forget_user(ticket)
  publish({k = 'leave', r = {{t = ticket, s = fmt(a), r = 'left'}}, w = waiting_count(ids)})
else
  redis.call('ZREM', K.pre, ticket)
  redis.call('ZREM', K.preseen, ticket)
  forget_user(ticket)
  publish({k = 'leave', r = {{t = ticket, r = 'left'}}, w = waiting_count(ids)})
end
history_leave(now, state)
return answer({left = true})
