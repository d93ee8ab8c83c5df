-- history.lua: the sale's history, recorded where the events happen. It is
-- loaded right after lib.lua in every script (scripts.go), preceded by the
-- line `local HIST_TTL_S = <retention in s>` that the store writes.
-- The existing scripts call it with one line each:
--   join.lua       history_count(now, 'ar', 1)             a new ticket
--   join_batch.lua history_arrivals(now, n)                its new tickets
--                  history_admit_one(now, ARGV[5])         admitted at join
--   tick.lua       no_show_sweep(cfg, now, ev, max_end)    after step 2
--                  history_admit(cfg, now, cand, a)        before the line loses them
--                  history_tick(now, ev)                   before the publish
--   leave.lua      history_leave(now, state)
--   admission.lua  arrived(ARGV[1])                        an entry used at the site
--   lib.lua        hooks.abandoned (set below)             pre-queued visitors
--                                                          dropped at the opening
--
-- Keys (all under the room's hash tag, built from PREFIX like the line's
-- generations):
--   wr:{room}:h:<n>    hash  the 10 s step n = floor(unix ms / 10000):
--                            ar arrived, ad admitted, ab abandoned, lf left,
--                            en ended, ns no_show (counters, HINCRBY);
--                            w waiting, i inside at the step's last tick
--                            (gauges, written only when not both 0
--                            or just become so; read carried forward);
--                            pw the longest line at a tick of the step; b<k> admitted whose wait fell in
--                            bucket k (below); ws the sum of their waits
--                            (ms). Expires HIST_TTL_S after its
--                            last write.
--   wr:{room}:htot     hash  the same counters and buckets since the room's
--                            first event, for Prometheus; f = first step,
--                            lw/li the last gauges written.
--                            Expires like a step.
--   wr:{room}:unarrived zset admission id -> when it must have arrived (ms),
--                            only while arrive_within_s > 0.
--
-- Wait buckets: k = 0 for a wait under 1 s, else k = floor(4 * log2(s)) + 1,
-- so bucket k >= 1 holds [2^((k-1)/4), 2^(k/4)) seconds: four per doubling,
-- at most 9% apart, up to k = 72 (2^18 s, three days). Counts of buckets
-- add up across steps, so a percentile over any range is as exact as one
-- step's: within 9% of the true wait (reported at the bucket's geometric
-- middle), 0 below 1 s.

local HIST_STEP_MS = 10000
local HIST_MAX_BUCKET = 72

local function hist_key(now) return PREFIX .. 'h:' .. math.floor(now / HIST_STEP_MS) end

local function hist_bucket(wait_ms)
  local s = wait_ms / 1000
  if s < 1 then return 0 end
  local k = math.floor(4 * math.log(s) / math.log(2)) + 1
  if k > HIST_MAX_BUCKET then k = HIST_MAX_BUCKET end
  return k
end

-- history_add adds the counters of fields ({ar = 1, b3 = 2, ...}) to the
-- current step and to the totals; zero counts are skipped.
local function history_add(now, fields)
  local hk, tk = hist_key(now), PREFIX .. 'htot'
  local any = false
  for f, n in pairs(fields) do
    if n ~= 0 then
      redis.call('HINCRBY', hk, f, n)
      redis.call('HINCRBY', tk, f, n)
      any = true
    end
  end
  if not any then return end
  redis.call('HSETNX', tk, 'f', math.floor(now / HIST_STEP_MS))
  redis.call('EXPIRE', hk, HIST_TTL_S)
  redis.call('EXPIRE', tk, HIST_TTL_S)
end

local function history_count(now, field, n) history_add(now, {[field] = n}) end

-- history_arrivals is history_count(now, 'ar', n) for a join batch, in one
-- call fewer: the totals' first step is written only with their first
-- arrivals, for any earlier history_add of the totals wrote it already.
local function history_arrivals(now, n)
  local hk, tk = hist_key(now), PREFIX .. 'htot'
  local ns = string.format('%d', n) -- a number argument is printed with '%.17g'
  redis.call('HINCRBY', hk, 'ar', ns)
  if redis.call('HINCRBY', tk, 'ar', ns) == n then
    redis.call('HSETNX', tk, 'f', string.format('%d', math.floor(now / HIST_STEP_MS)))
  end
  local ttl = string.format('%d', HIST_TTL_S)
  redis.call('EXPIRE', hk, ttl)
  redis.call('EXPIRE', tk, ttl)
end

-- Arrival ------------------------------------------------------------------

local function unarrived_key() return PREFIX .. 'unarrived' end

local function arrive_within_ms()
  return (tonumber(redis.call('HGET', K.cfg, 'arrive_within_s') or '0') or 0) * 1000
end

-- expect_arrival notes admissions (ids) that must be used at the site within
-- arrive_within_s. The zset expires with its last deadline, so a deleted
-- room leaves nothing behind.
local function expect_arrival(now, aids)
  local within = arrive_within_ms()
  if within <= 0 or #aids == 0 then return end
  local uk, args = unarrived_key(), {}
  for _, id in ipairs(aids) do
    args[#args + 1] = now + within
    args[#args + 1] = id
  end
  for i = 1, #args, 2000 do
    redis.call('ZADD', uk, unpack(args, i, math.min(i + 1999, #args)))
  end
  local last = redis.call('ZRANGE', uk, -1, -1, 'WITHSCORES')
  redis.call('PEXPIRE', uk, math.max(tonumber(last[2]) - now, 0) + 60000)
end

-- arrived records that admission id was used at the site.
local function arrived(id) redis.call('ZREM', unarrived_key(), id) end

-- no_show_sweep ends, with reason no_show, up to max admissions whose
-- arrival deadline has passed, adding them to ev.e; their capacity is free
-- for this very tick's admissions.
local function no_show_sweep(cfg, now, ev, max)
  local uk = unarrived_key()
  local due = redis.call('ZRANGEBYSCORE', uk, '-inf', now, 'LIMIT', 0, max)
  if #due == 0 then return end
  local on = arrive_within_ms() > 0 -- switched off since: nobody is a no-show
  local e = ev.e or {}
  for _, id in ipairs(due) do
    redis.call('ZREM', uk, id)
    local t = redis.call('HGET', K.byaid, id)
    -- Only the same admission, still live: one that ended or was replaced
    -- since is not a no-show.
    if on and t and redis.call('HGET', K.aid, t) == id then
      local ends = redis.call('ZSCORE', K.adm, t)
      if ends and tonumber(ends) > now then
        redis.call('ZREM', K.adm, t)
        end_admission(t)
        e[#e + 1] = {t = t, r = 'no_show'}
      end
    end
  end
  if #e > 0 then ev.e = e end
end

-- Admissions -----------------------------------------------------------------

-- history_admit records a tick's admissions: cand[i] = {ticket, score or 0,
-- generation id} for i = 1..#a, a[i].j the admission id. It runs before the
-- tickets leave their generations, so the scores a single-generation tick
-- did not read are still there. The wait is from the line score's time (a
-- pre-queued visitor's is the opening).
local function history_admit(cfg, now, cand, a)
  local n = #a
  if n == 0 then return end
  local by_gen = {}
  for i = 1, n do
    if cand[i][2] == 0 then
      local g = by_gen[cand[i][3]] or {}
      g[#g + 1] = i
      by_gen[cand[i][3]] = g
    end
  end
  for id, idx in pairs(by_gen) do
    for off = 1, #idx, 1000 do
      local ts = {}
      for j = off, math.min(off + 999, #idx) do ts[#ts + 1] = cand[idx[j]][1] end
      local sc = redis.call('ZMSCORE', gen_key(id), unpack(ts))
      for j = 1, #ts do cand[idx[off + j - 1]][2] = tonumber(sc[j] or '0') or 0 end
    end
  end
  local fields, aids = {ad = n, ws = 0}, {}
  for i = 1, n do
    local joined = now
    if cand[i][2] > 0 then joined = math.floor(cand[i][2] / TIE) + EPOCH end
    local wait = math.max(now - joined, 0)
    local b = 'b' .. hist_bucket(wait)
    fields[b] = (fields[b] or 0) + 1
    fields.ws = fields.ws + wait
    aids[#aids + 1] = a[i].j
  end
  history_add(now, fields)
  expect_arrival(now, aids)
end

-- history_admit_one records an admission at join (no wait).
local function history_admit_one(now, aid)
  history_add(now, {ad = 1, b0 = 1})
  expect_arrival(now, {aid})
end

-- history_tick records what a tick ended and dropped, and the line and the
-- admitted set as they stand after it.
local function history_tick(now, ev)
  local fields = {ab = 0, en = 0, ns = 0}
  for _, x in ipairs(ev.r or {}) do
    if x.r == 'abandoned' then fields.ab = fields.ab + 1 end
  end
  for _, x in ipairs(ev.e or {}) do
    if x.r == 'no_show' then fields.ns = fields.ns + 1 else fields.en = fields.en + 1 end
  end
  history_add(now, fields)
  -- The gauges are read back carried forward from step to step, so an idle
  -- room writes nothing: only a change to or from an empty room, or a room
  -- with someone in it.
  local w, i = ev.w, live_admitted(now)
  local tk = PREFIX .. 'htot'
  local last = redis.call('HMGET', tk, 'lw', 'li')
  if w == 0 and i == 0 and (last[1] or '0') == '0' and (last[2] or '0') == '0' then return end
  local hk = hist_key(now)
  redis.call('HSET', hk, 'w', w, 'i', i)
  if w > tonumber(redis.call('HGET', hk, 'pw') or '0') then redis.call('HSET', hk, 'pw', w) end
  redis.call('HSET', tk, 'lw', w, 'li', i)
  redis.call('EXPIRE', hk, HIST_TTL_S)
  redis.call('EXPIRE', tk, HIST_TTL_S)
end

-- history_leave records a leave: an admission that ends (leave or
-- checkout), or a visitor who leaves the line or the pre-queue.
local function history_leave(now, state)
  if state == 'admitted' then history_count(now, 'en', 1) else history_count(now, 'lf', 1) end
end

-- Pre-queued visitors not seen before the opening are dropped by lib.lua's
-- open_prequeue: abandoned, like those a tick drops.
hooks.abandoned = function(now, n) history_count(now, 'ab', n) end

-- ---- end of history.lua; the script follows ----
