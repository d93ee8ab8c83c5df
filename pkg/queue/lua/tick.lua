-- tick.lua: one step of the admitter for one room, atomically:
--   1. open the pre-queue if opens_at has passed (lib.lua open_prequeue),
--      placing at most ARGV[5] of it: the caller goes on with open_step.lua;
--   2. end admissions whose time is up;
--   3. drop waiting visitors absent longer than abandon_after_s;
--   4. unless paused or before opens_at, admit from the head of the line,
--      up to batch_size and never past capacity (passthrough ignores it).
-- Touches: every key of lib.lua, the line generations, wr:{room}:tickids
-- (zset: tick id -> when it ran, the last minute's) and wr:{room}:tick (the
-- latest tick's id and reply); publishes on the room's channel.
-- ARGV[1] most admissions ended per tick, ARGV[2] most visitors abandoned
--         per tick: each call's work stays bounded however large the room.
-- ARGV[3] a fresh random prefix of this tick's admission ids: the i-th
--         admission's id (its entry tokens' jti) is the prefix and i in hex.
-- ARGV[4] the tick's id (random, no spaces): a retried tick is a no-op; its
--         event's id starts with it.
-- ARGV[5] most pre-queued visitors placed in the line by this call.
-- ARGV[6] 1: do not publish the event, only give it its version and id: the
--         caller publishes it once replicas have the tick
--         (Options.WaitReplicas).
-- Returns {1, event-json, pre-queued visitors still to place} where the event (published only if something
-- changed, with its version v and id, lib.lua publish) lists
--   a: admitted {t ticket, u user, j admission id}, always the head of the line
--   x: when those admissions end (ms)
--   r: removed from the line {t, s, r='abandoned'}
--   e: admissions ended {t, r='admission_ended'}
--   w: visitors waiting after the tick
--   m, f, n, i: admissions in the last minute, first admission (ms), now
--               (ms), interval_ms: what an ETA is computed from
-- or {-1} when the room does not exist.
-- A server holding sockets updates every position from a and r alone: a
-- visitor's new position is the old one less #a less the removed scores
-- below theirs.
local cfg = load_cfg()
if not cfg then return {-1} end
local now = now_ms()
local max_end, max_abandon = tonumber(ARGV[1]), tonumber(ARGV[2])
-- Exactly once: go-redis resends a tick whose reply was lost, and a second
-- run would admit a second batch in the same interval. A tick id seen in the
-- last minute answers with the first run's reply (kept for the latest tick
-- only) or with a tick that changed nothing, and does nothing.
local tick_ids, last_tick = PREFIX .. 'tickids', PREFIX .. 'tick'
if redis.call('ZADD', tick_ids, 'NX', now, ARGV[4]) == 0 then
  local last = redis.call('GET', last_tick)
  if last and string.sub(last, 1, #ARGV[4] + 1) == ARGV[4] .. ' ' then
    return {1, string.sub(last, #ARGV[4] + 2)}
  end
  return {1, cjson.encode({k = 'tick', v = 0, w = waiting_count(gen_ids()), n = now, i = cfg.interval})}
end
redis.call('ZREMRANGEBYSCORE', tick_ids, '-inf', now - 60000)
redis.call('PEXPIRE', tick_ids, 60000)
local ev = {k = 'tick'}
local changed = open_prequeue(cfg, now, tonumber(ARGV[5]))

local function chunked(cmd, key, items, per)
  for i = 1, #items, per do
    redis.call(cmd, key, unpack(items, i, math.min(i + per - 1, #items)))
  end
end

-- 2. Admissions that ran out.
local ended = redis.call('ZRANGEBYSCORE', K.adm, '-inf', now, 'LIMIT', 0, max_end)
if #ended > 0 then
  chunked('ZREM', K.adm, ended, 1000)
  local e = {}
  for _, t in ipairs(ended) do
    end_admission(t)
    e[#e + 1] = {t = t, r = 'admission_ended'}
  end
  ev.e = e
end
no_show_sweep(cfg, now, ev, max_end)

-- 3. Generations that ended more than abandon_after_s ago hold only visitors
-- absent at least that long.
local ids = gen_ids()
if cfg.abandon > 0 then
  local stale = redis.call('ZRANGEBYSCORE', K.gens, '-inf', now - cfg.abandon * 1000)
  local r, budget = {}, max_abandon
  for _, id in ipairs(stale) do
    if budget <= 0 then break end
    local gk = gen_key(id)
    local got = redis.call('ZRANGE', gk, 0, budget - 1, 'WITHSCORES')
    local n = #got / 2
    if n > 0 then
      redis.call('ZREMRANGEBYRANK', gk, 0, n - 1)
      for i = 1, #got, 2 do
        forget_user(got[i])
        r[#r + 1] = {t = got[i], s = fmt(tonumber(got[i + 1])), r = 'abandoned'}
      end
      budget = budget - n
    end
  end
  if #r > 0 then ev.r = r end
end
-- Forget emptied generations, but keep the newest: it is the current one.
for i = 1, #ids - 1 do
  if redis.call('ZCARD', gen_key(ids[i])) == 0 then redis.call('ZREM', K.gens, ids[i]) end
end
ids = gen_ids()

-- 4. Admit from the head.
if not cfg.paused and not before_open(cfg, now) then
  local n = cfg.batch
  if cfg.capacity > 0 and cfg.mode ~= 'passthrough' then
    n = math.min(n, cfg.capacity - live_admitted(now))
  end
  if n > 0 then
    -- The head of the line is the lowest scores over all generations: take
    -- each generation's first n, merge, keep the first n overall. What is
    -- taken from one generation is always a prefix of it. With a single
    -- generation no scores need reading at all.
    -- While a pre-queue is being placed, nobody who joined after its opening
    -- may pass the part of it not placed yet.
    local left, bound = opening()
    local cand = {}
    if #ids == 1 and left == 0 then
      for _, t in ipairs(redis.call('ZRANGE', gen_key(ids[1]), 0, n - 1)) do cand[#cand + 1] = {t, 0, ids[1]} end
    else
      for _, id in ipairs(ids) do
        local got = redis.call('ZRANGE', gen_key(id), 0, n - 1, 'WITHSCORES')
        for i = 1, #got, 2 do cand[#cand + 1] = {got[i], tonumber(got[i + 1]), id} end
      end
      table.sort(cand, function(x, y) return x[2] < y[2] end)
      if left > 0 then
        for i = 1, #cand do
          if cand[i][2] >= bound then
            for j = #cand, i, -1 do cand[j] = nil end
            break
          end
        end
      end
    end
    local take = math.min(n, #cand)
    if take > 0 then
      local ends = now + cfg.ttl * 1000
      local per_gen, zargs, tickets, a = {}, {}, {}, {}
      local aids, byaids = {}, {}
      for i = 1, take do
        local c = cand[i]
        per_gen[c[3]] = (per_gen[c[3]] or 0) + 1
        zargs[#zargs + 1] = ends
        zargs[#zargs + 1] = c[1]
        tickets[#tickets + 1] = c[1]
        local aid = ARGV[3] .. string.format('%x', i)
        aids[#aids + 1] = c[1]
        aids[#aids + 1] = aid
        byaids[#byaids + 1] = aid
        byaids[#byaids + 1] = c[1]
        a[i] = {t = c[1], j = aid}
      end
      history_admit(cfg, now, cand, a)
      for id, k in pairs(per_gen) do redis.call('ZREMRANGEBYRANK', gen_key(id), 0, k - 1) end
      chunked('ZADD', K.adm, zargs, 2000)
      chunked('HSET', K.aid, aids, 2000)
      chunked('HSET', K.byaid, byaids, 2000)
      for i = 1, take, 1000 do
        local us = redis.call('HMGET', K.users, unpack(tickets, i, math.min(i + 999, take)))
        for j, u in ipairs(us) do
          if u then a[i + j - 1].u = u end
        end
      end
      count_admissions(now, take)
      ev.a = a
      ev.x = ends
    end
  end
end

-- Keep two minutes of per-second admission counts.
local old = math.floor(now / 1000) - 120
for _, f in ipairs(redis.call('HKEYS', K.rate)) do
  if tonumber(f) < old then redis.call('HDEL', K.rate, f) end
end

ev.w = waiting_count(ids)
-- The rate figures let a socket server give each position its ETA.
ev.m = admitted_last_minute(now)
redis.call('HSET', K.stats, 'lastmin', ev.m, 'lastmin_at', now)
ev.f = tonumber(redis.call('HGET', K.stats, 'first_admit_ms') or '0')
ev.n = now
ev.i = cfg.interval
history_tick(now, ev)
if changed or ev.a or ev.r or ev.e then
  ev.id = ARGV[4]
  publish(ev, ARGV[6] == '1')
else
  ev.v = 0
end
local out = cjson.encode(ev)
redis.call('SET', last_tick, ARGV[4] .. ' ' .. out, 'PX', 60000)
return {1, out, (opening())}
