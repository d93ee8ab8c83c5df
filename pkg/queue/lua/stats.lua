-- stats.lua: a room's figures for its info page and the operator.
-- Touches (reads only): cfg, pre, adm, gens, the line generations, ver, rate,
-- stats (KEYS as in lib.lua).
-- Returns {1, waiting, admitted (live), admitted_total, admitted_last_minute,
--          head score (or '0'), now, prequeue size, first_admit_ms, ver}
-- or {-1} when the room does not exist.
local cfg = load_cfg()
if not cfg then return {-1} end
local now = now_ms()
local ids = gen_ids()
local head = nil
for _, id in ipairs(ids) do
  local h = redis.call('ZRANGE', gen_key(id), 0, 0, 'WITHSCORES')
  if h[2] and (not head or tonumber(h[2]) < head) then head = tonumber(h[2]) end
end
return {1, waiting_count(ids), live_admitted(now),
  tonumber(redis.call('HGET', K.stats, 'admitted_total') or '0'), admitted_last_minute(now),
  head and fmt(head) or '0', now, redis.call('ZCARD', K.pre),
  tonumber(redis.call('HGET', K.stats, 'first_admit_ms') or '0'),
  tonumber(redis.call('GET', K.ver) or '0')}
