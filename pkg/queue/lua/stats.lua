-- stats.lua: a room's figures for its info page and the operator.
-- Touches (reads only): cfg, pre, adm, gens, the line generations, ver, rate,
-- stats (KEYS as in lib.lua).
-- Returns {waiting, admitted (live), admitted_total, admitted_last_minute,
--          head = the head's score (a string, '0' for none), now, prequeue,
--          first_admit_ms, version}, or refuses ROOM_NOT_FOUND.
local cfg = load_cfg()
if not cfg then return answer(ROOM_NOT_FOUND) end
local now = now_ms()
local ids = gen_ids()
local head = nil
for _, id in ipairs(ids) do
  local h = redis.call('ZRANGE', gen_key(id), 0, 0, 'WITHSCORES')
  if h[2] and (not head or tonumber(h[2]) < head) then head = tonumber(h[2]) end
end
return answer({waiting = waiting_count(ids), admitted = live_admitted(now),
  admitted_total = tonumber(redis.call('HGET', K.stats, 'admitted_total') or '0'),
  admitted_last_minute = admitted_last_minute(now), head = head and fmt(head) or '0', now = now,
  prequeue = redis.call('ZCARD', K.pre),
  first_admit_ms = tonumber(redis.call('HGET', K.stats, 'first_admit_ms') or '0'),
  version = tonumber(redis.call('GET', K.ver) or '0')})
