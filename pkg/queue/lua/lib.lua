-- lib.lua: the prelude of every queue script, prepended when the scripts are
-- loaded, so the clock, the generations and the status come from one place.
--
-- KEYS, the same for every script (all carry the room's hash tag {room}):
--   KEYS[1] cfg     hash   the room config
--   KEYS[2] pre     zset   pre-queue: ticket -> random key (the shuffle)
--   KEYS[3] adm     zset   admitted: ticket -> admission end (unix ms)
--   KEYS[4] gens    zset   line generations: id -> generation end (unix ms)
--   KEYS[5] clock   string last line score handed out
--   KEYS[6] ver     string event version
--   KEYS[7] users   hash   ticket -> external user id
--   KEYS[8] byuser  hash   external user id -> ticket
--   KEYS[9] rate    hash   unix second -> admissions in that second
--   KEYS[10] stats  hash   admitted_total, first_admit_ms, genseq
--   KEYS[11] aid    hash   admitted ticket -> admission id (the entry token's jti)
--   KEYS[12] byaid  hash   admission id -> ticket
--   KEYS[13] preseen zset  pre-queued ticket -> when last seen (unix ms)
-- Built from the same prefix: wr:{room}:line:<id> (one zset per generation of
-- the line, ticket -> score), wr:{room}:pow:<challenge> (a proof of work
-- already used) and the channel wr:{room}:events.
--
-- Why the line is split into generations: a waiting visitor must lose the
-- place after abandon_after_s without a socket or a status request. Keeping
-- a second "last seen" zset beside the line would cost ~125 bytes more per
-- visitor. Instead each visitor sits in exactly one generation zset, the one
-- that was current when they were last seen; being seen moves them (same
-- score) into the current generation. A generation whose end lies more than
-- abandon_after_s in the past holds only visitors absent at least that long,
-- so the tick drops it from the front. The line's order is still the score:
-- a position is the sum of ZCOUNTs below one's score over the few
-- generations (about five), each O(log n).

local K = {cfg = KEYS[1], pre = KEYS[2], adm = KEYS[3], gens = KEYS[4], clock = KEYS[5],
  ver = KEYS[6], users = KEYS[7], byuser = KEYS[8], rate = KEYS[9], stats = KEYS[10],
  aid = KEYS[11], byaid = KEYS[12], preseen = KEYS[13]}
local PREFIX = string.sub(K.cfg, 1, -4) -- "wr:{room}:"

-- Every script answers with one cjson object: its result, or {err = code}
-- when it refuses. errors.go maps each code to a named error.
local ROOM_NOT_FOUND, TICKET_NOT_FOUND, ROOM_CLOSED = 'room_not_found', 'ticket_not_found', 'room_closed'
local USER_REQUIRED, POW_REQUIRED, POW_USED = 'user_required', 'pow_required', 'pow_used'
local ADMISSION_ENDED = 'admission_ended'

-- answer encodes a script's reply: a table, or a refusal's code.
local function answer(r)
  if type(r) == 'string' then return cjson.encode({err = r}) end
  return cjson.encode(r)
end

-- Line scores. score = (ms since EPOCH) * 4096 + tiebreak, handed out by a
-- hybrid logical clock in K.clock: a joiner gets max(now * 4096, last + 1),
-- the second branch being an INCR. So scores are strictly increasing in the
-- order the (serialised) scripts ran, whatever the host clock does: many
-- joins in one millisecond take last+1, last+2, ...; if the clock steps
-- backwards the INCR keeps counting up from the last score.
-- Exact in float64: ms since 2025-01-01 stays below 2^41 until the year 2094,
-- so the score stays below 2^41 * 2^12 = 2^53, the largest range in which a
-- double (Lua's number and the zset score) holds every integer exactly.
local EPOCH = 1735689600000 -- 2025-01-01T00:00:00Z in unix ms
local TIE = 4096

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- next_scores reserves n consecutive line scores and returns the first.
local function next_scores(now, n)
  local base = (now - EPOCH) * TIE
  local last = tonumber(redis.call('GET', K.clock) or '0')
  if base > last then
    redis.call('SET', K.clock, string.format('%.0f', base + n - 1))
    return base
  end
  return redis.call('INCRBY', K.clock, n) - n + 1
end

local function fmt(n) return string.format('%.0f', n) end

-- The most pre-queued visitors a join or status request places (see
-- open_prequeue): a few milliseconds of Redis.
local OPEN_STEP = 500

local function load_cfg()
  local v = redis.call('HMGET', K.cfg, 'capacity', 'batch_size', 'interval_ms', 'session_ttl_s',
    'mode', 'paused', 'opens_at', 'abandon_after_s', 'require_user', 'pow_work')
  if not v[1] then return nil end
  return {capacity = tonumber(v[1]), batch = tonumber(v[2]), interval = tonumber(v[3]),
    ttl = tonumber(v[4]), mode = v[5], paused = (v[6] == '1'), opens_at = tonumber(v[7] or '0') or 0,
    abandon = tonumber(v[8] or '0') or 0, require_user = (v[9] == '1'), pow_work = tonumber(v[10] or '0') or 0}
end

local function before_open(cfg, now) return cfg.opens_at > 0 and now < cfg.opens_at end

-- Generations -------------------------------------------------------------

local function gen_key(id) return PREFIX .. 'line:' .. id end

local function gen_len(cfg)
  if cfg.abandon > 0 then return math.max(1000, math.floor(cfg.abandon * 1000 / 4)) end
  return 3600000
end

local function gen_ids() return redis.call('ZRANGE', K.gens, 0, -1) end

-- current_gen returns the id of the generation that visitors seen now belong
-- to, opening a new one when the last has ended.
local function current_gen(cfg, now)
  local last = redis.call('ZRANGE', K.gens, -1, -1, 'WITHSCORES')
  if last[1] and tonumber(last[2]) > now then return last[1] end
  local id = tostring(redis.call('HINCRBY', K.stats, 'genseq', 1))
  redis.call('ZADD', K.gens, now + gen_len(cfg), id)
  return id
end

-- opening returns how many of an opening pre-queue are not placed yet and
-- the end of their reserved scores (0, 0 when no opening is under way):
-- they count in the line, ahead of every score from that end on.
local function opening()
  local stop = redis.call('HGET', K.stats, 'open_end')
  if not stop then return 0, 0 end
  return redis.call('ZCARD', K.pre), tonumber(stop)
end

local function waiting_count(ids)
  local n = opening()
  for _, id in ipairs(ids) do n = n + redis.call('ZCARD', gen_key(id)) end
  return n
end

-- position is the 1-based rank of score in the whole line.
local function position(ids, score)
  local p = 1
  local left, stop = opening()
  if left > 0 and score >= stop then p = p + left end
  local below = '(' .. fmt(score)
  for _, id in ipairs(ids) do p = p + redis.call('ZCOUNT', gen_key(id), '-inf', below) end
  return p
end

local function find_in_line(ids, ticket)
  for _, id in ipairs(ids) do
    local s = redis.call('ZSCORE', gen_key(id), ticket)
    if s then return id, tonumber(s) end
  end
  return nil
end

-- Tickets -----------------------------------------------------------------

-- locate says where a ticket is: 'admitted' (with the admission end),
-- 'waiting' (with score and generation id), 'prequeue', or nil when gone.
-- An admission whose end has passed is gone even before a tick removes it.
local function locate(ids, ticket, now)
  local e = redis.call('ZSCORE', K.adm, ticket)
  if e then
    if tonumber(e) > now then return 'admitted', tonumber(e) end
    return nil
  end
  local id, s = find_in_line(ids, ticket)
  if id then return 'waiting', s, id end
  if redis.call('ZSCORE', K.pre, ticket) then return 'prequeue' end
  return nil
end

-- seen records presence: a waiting ticket moves, keeping its score, into the
-- current generation.
local function seen(cfg, now, ticket, score, id)
  local cur = current_gen(cfg, now)
  if cur ~= id then
    redis.call('ZREM', gen_key(id), ticket)
    redis.call('ZADD', gen_key(cur), fmt(score), ticket)
  end
end

local function live_admitted(now) return redis.call('ZCOUNT', K.adm, '(' .. now, '+inf') end

-- admit lets ticket in until now + ttl under the admission id aid, which
-- entry tokens carry as jti: a token works only while this admission lives.
local function admit(cfg, now, ticket, aid)
  local ends = now + cfg.ttl * 1000
  redis.call('ZADD', K.adm, ends, ticket)
  redis.call('HSET', K.aid, ticket, aid)
  redis.call('HSET', K.byaid, aid, ticket)
  return ends
end

local function count_admissions(now, n)
  if n == 0 then return end
  redis.call('HINCRBY', K.rate, math.floor(now / 1000), n)
  redis.call('HINCRBY', K.stats, 'admitted_total', n)
  redis.call('HSETNX', K.stats, 'first_admit_ms', now)
end

-- admitted_last_minute sums the per-second admission counts of the last 60 s.
local function admitted_last_minute(now)
  local s = math.floor(now / 1000)
  local fields = {}
  for i = 0, 59 do fields[#fields + 1] = s - i end
  local n = 0
  for _, v in ipairs(redis.call('HMGET', K.rate, unpack(fields))) do
    if v then n = n + tonumber(v) end
  end
  return n
end

-- unlink deletes ticket's field of the hash fwd and its value's field of
-- the reverse hash rev (when mine, only while that still names ticket: a
-- user's newer ticket keeps its own); it returns the value.
local function unlink(fwd, rev, ticket, mine)
  local v = redis.call('HGET', fwd, ticket)
  if v then
    redis.call('HDEL', fwd, ticket)
    if not mine or redis.call('HGET', rev, v) == ticket then redis.call('HDEL', rev, v) end
  end
  return v
end

local function forget_user(ticket)
  return unlink(K.users, K.byuser, ticket, true)
end

-- end_admission forgets an admission's id and user; the caller has taken
-- the ticket out of K.adm. Its entry tokens never work again.
local function end_admission(ticket)
  unlink(K.aid, K.byaid, ticket, false)
  forget_user(ticket)
end

-- publish gives ev the room's next version and an id, records the id beside
-- the version (wr:{room}:evid) and publishes ev; hold: only the first two,
-- the caller publishes. After a failover to a replica that had not received
-- the last events, versions repeat but ids do not: a hub that applied a lost
-- event knows the store went back. The id is Redis's clock in microseconds,
-- which an event later on another node does not repeat, after ev.id if the
-- caller set one (a tick's random id). Not the caller's id alone: go-redis
-- retries a script with the same arguments, maybe on the promoted node.
local function publish(ev, hold)
  ev.v = redis.call('INCR', K.ver)
  local t = redis.call('TIME')
  ev.id = (ev.id and ev.id .. '.' or '') .. t[1] .. '.' .. t[2]
  redis.call('SET', PREFIX .. 'evid', ev.id)
  if not hold then redis.call('PUBLISH', PREFIX .. 'events', cjson.encode(ev)) end
  return ev.v
end

-- hooks are filled in by history.lua, loaded after this file: lib.lua's own
-- functions record history through them.
local hooks = {}

-- open_prequeue moves the pre-queue into the line once opens_at has passed,
-- at most budget visitors per call, so that no script holds Redis for long
-- however large the pre-queue (a tick goes on in further calls until it is
-- done; each join and status places a small step). The first script after
-- opens_at reserves one fresh score per pre-queued visitor: they take them in
-- the order of K.pre, drawn from crypto/rand at join, a uniformly random
-- permutation; behind everyone already in line and ahead of everyone who
-- joins later (the clock only moves forward), placed or not yet placed.
-- K.stats open_next/open_end is the part of that range still unplaced.
-- Those not seen (socket or status request) within abandon_after_s before
-- opens_at are dropped, not placed: a script cannot hold places for absent
-- visitors. Returns whether it published an event.
local function open_prequeue(cfg, now, budget)
  if before_open(cfg, now) then return false end
  local n = redis.call('ZCARD', K.pre)
  if n == 0 then return false end
  local v = redis.call('HMGET', K.stats, 'open_next', 'open_end')
  local nxt, stop = tonumber(v[1]), tonumber(v[2])
  if not nxt or stop - nxt < n then
    nxt = next_scores(now, n)
    stop = nxt + n
    redis.call('HSET', K.stats, 'open_next', fmt(nxt), 'open_end', fmt(stop))
  end
  if budget <= 0 then return false end
  local cutoff = -1
  if cfg.abandon > 0 then cutoff = cfg.opens_at - cfg.abandon * 1000 end
  local gk = gen_key(current_gen(cfg, now))
  local done, dropped = 0, {}
  while done < budget and done < n do
    local batch = redis.call('ZRANGE', K.pre, 0, math.min(500, budget - done) - 1)
    local seen_at = {}
    if cutoff >= 0 then seen_at = redis.call('ZMSCORE', K.preseen, unpack(batch)) end
    local args = {}
    for i, t in ipairs(batch) do
      local score = fmt(nxt + done + i - 1)
      if cutoff < 0 or (seen_at[i] and tonumber(seen_at[i]) >= cutoff) then
        args[#args + 1] = score
        args[#args + 1] = t
      else
        forget_user(t)
        dropped[#dropped + 1] = {t = t, r = 'abandoned'}
      end
    end
    if #args > 0 then redis.call('ZADD', gk, unpack(args)) end
    redis.call('ZREMRANGEBYRANK', K.pre, 0, #batch - 1)
    redis.call('ZREM', K.preseen, unpack(batch))
    done = done + #batch
  end
  local ev
  if done < n then
    redis.call('HSET', K.stats, 'open_next', fmt(nxt + done))
    if #dropped == 0 then return false end
    ev = {k = 'tick'}
  else
    redis.call('HDEL', K.stats, 'open_next', 'open_end')
    redis.call('UNLINK', K.preseen)
    ev = {k = 'open'}
  end
  if #dropped > 0 then
    ev.r = dropped
    if hooks.abandoned then hooks.abandoned(now, #dropped) end
  end
  ev.w = waiting_count(gen_ids())
  publish(ev)
  return true
end

-- reply is the status reply shared by join and status (statusReply in
-- store.go); created says the ticket is new. score is a string: it passes
-- cjson's 14 digits.
-- The rate comes from the last tick's figure (cached in K.stats), not a
-- 60-field sum per request; older than a minute means nothing was measured.
local function reply(cfg, now, created, ticket, state, pos, waiting, score, ends, user, aid)
  local r = redis.call('HMGET', K.stats, 'first_admit_ms', 'lastmin', 'lastmin_at')
  local lastmin = 0
  if r[3] and now - tonumber(r[3]) <= 60000 then lastmin = tonumber(r[2]) end
  return {created = created, ticket = ticket, state = state, position = pos, waiting = waiting,
    score = score, version = tonumber(redis.call('GET', K.ver) or '0'), admission_ends = ends,
    user = user, admitted_last_minute = lastmin, first_admit_ms = tonumber(r[1] or '0'), now = now,
    opens_at = cfg.opens_at, interval_ms = cfg.interval, admission_id = aid or ''}
end

-- status looks a ticket up and answers with reply, recording presence, or
-- TICKET_NOT_FOUND.
local function status(cfg, now, ticket, created)
  local ids = gen_ids()
  local state, a, id = locate(ids, ticket, now)
  if not state then return TICKET_NOT_FOUND end
  local pos, score, ends, aid = 0, '0', 0, ''
  local waiting
  if state == 'waiting' then
    seen(cfg, now, ticket, a, id)
    pos = position(ids, a)
    score = fmt(a)
    ids = gen_ids() -- seen may have opened a generation, which the count must see
  elseif state == 'admitted' then
    ends = a
    aid = redis.call('HGET', K.aid, ticket) or ''
  else
    redis.call('ZADD', K.preseen, 'XX', now, ticket)
    waiting = redis.call('ZCARD', K.pre)
  end
  waiting = waiting or waiting_count(ids)
  return reply(cfg, now, created, ticket, state, pos, waiting, score, ends, redis.call('HGET', K.users, ticket) or '', aid)
end

-- ---- end of lib.lua; the script follows ----
