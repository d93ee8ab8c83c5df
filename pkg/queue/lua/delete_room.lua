-- delete_room.lua: deletes a room and everything in it. Sockets hear a
-- 'deleted' event first, so visitors learn why (room_deleted).
-- Touches: every key of lib.lua, the line generations, wr:{room}:batches,
-- wr:{room}:tickids, wr:{room}:tick and wr:{room}:evid (UNLINK, so a large
-- line is freed in the background and Redis does not stall).
-- Returns {deleted = true}, or refuses ROOM_NOT_FOUND.
if redis.call('EXISTS', K.cfg) == 0 then return answer(ROOM_NOT_FOUND) end
publish({k = 'deleted'})
for _, id in ipairs(gen_ids()) do redis.call('UNLINK', gen_key(id)) end
redis.call('UNLINK', K.cfg, K.pre, K.adm, K.gens, K.clock, K.ver, K.users, K.byuser, K.rate, K.stats,
  K.aid, K.byaid, K.preseen, PREFIX .. 'batches', PREFIX .. 'tickids', PREFIX .. 'tick',
  PREFIX .. 'evid')
return answer({deleted = true})
