-- join_batch.lua: many visitors join one room in one call (group commit).
-- Each joiner gets the decision join.lua would give them had their joins run
-- one after another in the batch's order, which is the order they arrived at
-- the instance: the line stays first-come-first-served.
-- Touches: KEYS as in lib.lua, the line generations, wr:{room}:pow:<challenge>
-- wr:{room}:batches (zset: batch id -> when it ran, the last minute's;
-- stats field jb_trim: when it was last trimmed) and the history keys of
-- history.lua.
-- ARGV[1] batch id (128 random bits): a retried batch is recognised
-- ARGV[2] shapes, a letter per joiner: 'p' presents nothing, 'f' presents
--   a ticket, a user or a proof of work
-- ARGV[3] the joiners' shuffle keys (pre-queue order), 14 hex digits each
-- ARGV[4] the joiners' admission ids, 22 characters each
-- ARGV[5] the joiners' new tickets, 22 characters each
-- ARGV[6..] four per 'f' joiner, in order: presented ticket, verified
--   user, proof-of-work id, proof-of-work expiry (unix ms). (join.lua's
--   ARGV, packed: every ARGV string costs Redis an object and the script
--   an allocation and a hash.)
-- Returns {v=event version, m=admissions last minute, f=first admission ms,
--   n=now ms, o=opens_at ms, i=interval ms, k=kinds, q=first, r=[results]},
--   or refuses ROOM_NOT_FOUND. k has one letter per joiner: 'n' a new ticket
--   waiting in line, '.' the next of r. The new tickets in line of a batch
--   take consecutive places and scores, so they need no result of their
--   own: q is "<position> <score>" of the first of them (the next has
--   position + 1 and score + 1, and so on; its ticket is the new ticket, its
--   waiting its position, its user the joiner's). A result of r is
--   {err=ROOM_CLOSED | USER_REQUIRED | POW_REQUIRED | POW_USED}, else
--   {c=1 new ticket | 0 the held one, t=ticket, s=state, p=position,
--   w=waiting, sc=score (a string: cjson keeps 14 digits), e=admission end
--   ms, u=user, j=admission id}; a new ticket's result leaves out what is
--   zero or empty (batch.go reads it so); r is left out when empty.
--
-- Why the marker: go-redis resends a command whose reply was lost. A batch
-- seen before checks each joiner's new ticket first (as join.lua always does)
-- so a retry answers as the first run did and never inserts twice; a fresh
-- batch skips that lookup, which is most of a join's cost.
--
-- What a batch costs Redis is mostly the redis.calls it makes whatever its
-- size, so the figures it needs are read together once: the generations
-- with their ends, the stats fields, the clock with the event version.
local cfg = load_cfg()
if not cfg then return answer(ROOM_NOT_FOUND) end
local now = now_ms()
local now_s = string.format('%d', now) -- a number argument is printed with '%.17g'
open_prequeue(cfg, now, OPEN_STEP)
-- After the opening step: it may have changed open_end, the generations,
-- the clock and the version.
local st = redis.call('HMGET', K.stats, 'first_admit_ms', 'lastmin', 'lastmin_at', 'open_end', 'jb_trim')
local cv = redis.call('MGET', K.clock, K.ver)
-- The markers of the last minute's batches, in one key per room so that
-- deleting the room finds them; trimmed at most once a second (jb_trim).
local jb = PREFIX .. 'batches'
local fresh = not redis.call('ZSCORE', jb, ARGV[1])
local inserted = false

-- The generations with their ends: the last one is the current generation
-- while its end lies ahead.
local ids, last_end = {}, nil
do
  local g = redis.call('ZRANGE', K.gens, 0, -1, 'WITHSCORES')
  for i = 1, #g, 2 do ids[#ids + 1] = g[i] end
  if #g > 0 then last_end = tonumber(g[#g]) end
end
local cur -- the current generation, opened on first use
local function cur_gen()
  if not cur then
    if last_end and last_end > now then
      cur = ids[#ids]
    else
      cur = current_gen(cfg, now)
      ids = gen_ids()
    end
  end
  return cur
end
local waiting -- the line's length, counted once, then kept
local function line_len()
  if not waiting then
    local n = 0
    if st[4] then n = redis.call('ZCARD', K.pre) end -- an opening's unplaced rest
    for _, id in ipairs(ids) do n = n + redis.call('ZCARD', gen_key(id)) end
    waiting = n
  end
  return waiting
end
local live -- live admissions, counted once, then kept
-- Line scores as lib.lua's next_scores hands them out, the clock read once
-- and written back once at the end of the batch.
local clock_next
local function take_score()
  if not clock_next then
    clock_next = math.max((now - EPOCH) * TIE, tonumber(cv[1] or '0') + 1)
  end
  clock_next = clock_next + 1
  return clock_next - 1
end
local admitted = 0
local arrivals = 0 -- new tickets, for the sale's history
local NEW = {} -- join_one's answer for a new ticket in line
local first -- q: "<position> <score>" of the batch's first new ticket in line

-- The batch's new places are written with one ZADD per key at the end (or
-- before any lookup that must see them), not one call per joiner: a
-- redis.call costs more than the insert itself. line is score/ticket pairs
-- for the current generation; pre and seen those of the pre-queue.
local new_line, new_pre, new_seen = {}, {}, {}
local pre_len -- the pre-queue's length, counted once, then kept
-- nonempty leaves an empty user out of a result (the field is optional).
local function nonempty(v) if v ~= '' then return v end end
local function zadd_all(key, args)
  for i = 1, #args, 1000 do
    redis.call('ZADD', key, unpack(args, i, math.min(i + 999, #args)))
  end
end
local function flush_new()
  if #new_line > 0 then zadd_all(gen_key(cur), new_line); new_line = {} end
  if #new_pre > 0 then
    zadd_all(K.pre, new_pre); new_pre = {}
    zadd_all(K.preseen, new_seen); new_seen = {}
  end
end

-- standing answers for a ticket that holds a place (lib.lua's status, with
-- the batch's figures).
local function standing(ticket, code)
  flush_new()
  local state, a, id = locate(ids, ticket, now)
  if not state then return nil end
  local r = {c = code, t = ticket, s = state, p = 0, sc = '0', e = 0, j = '',
    u = redis.call('HGET', K.users, ticket) or ''}
  if state == 'waiting' then
    if cur_gen() ~= id then
      redis.call('ZREM', gen_key(id), ticket)
      redis.call('ZADD', gen_key(cur), fmt(a), ticket)
    end
    r.p = position(ids, a)
    r.sc = fmt(a)
    r.w = line_len()
  elseif state == 'admitted' then
    r.e = a
    r.j = redis.call('HGET', K.aid, ticket) or ''
    r.w = line_len()
  else
    redis.call('ZADD', K.preseen, 'XX', now, ticket)
    r.w = redis.call('ZCARD', K.pre)
  end
  return r
end

local shuffles, aids = ARGV[3], ARGV[4]
-- The k-th joiner's shuffle key (a string, as a zset score) and admission
-- id, cut out of their ARGV only when needed.
local function shuffle_of(k)
  return string.format('%d', tonumber(string.sub(shuffles, 14 * k - 13, 14 * k), 16))
end
local function aid_of(k) return string.sub(aids, 22 * k - 21, 22 * k) end

local function join_one(k, new, given, user, pow, pow_exp)
  if not fresh then
    local r = standing(new, 1)
    if r then return r end
  end
  if given ~= '' then
    local r = standing(given, 0)
    if r then return r end
  end
  if user ~= '' then
    local held = redis.call('HGET', K.byuser, user)
    if held then
      local r = standing(held, 0)
      if r then return r end
    end
  end
  if cfg.mode == 'reject' then return {err = ROOM_CLOSED} end
  if cfg.require_user and user == '' then return {err = USER_REQUIRED} end
  if cfg.pow_work > 0 then
    if pow == '' then return {err = POW_REQUIRED} end
    if not redis.call('SET', PREFIX .. 'pow:' .. pow, '1', 'NX', 'PXAT', pow_exp) then return {err = POW_USED} end
  end
  inserted = true
  arrivals = arrivals + 1
  if user ~= '' then
    redis.call('HSET', K.users, new, user)
    redis.call('HSET', K.byuser, user, new)
  end
  if before_open(cfg, now) then
    pre_len = (pre_len or redis.call('ZCARD', K.pre)) + 1
    new_pre[#new_pre + 1] = shuffle_of(k)
    new_pre[#new_pre + 1] = new
    new_seen[#new_seen + 1] = now
    new_seen[#new_seen + 1] = new
    return {c = 1, t = new, s = 'prequeue', w = pre_len, u = nonempty(user)}
  end
  local w = line_len()
  if not cfg.paused and (cfg.mode == 'passthrough' or (cfg.mode == 'auto' and w == 0
      and (cfg.capacity == 0 or (live or live_admitted(now)) + admitted < cfg.capacity))) then
    live = live or live_admitted(now)
    local aid = aid_of(k)
    local ends = admit(cfg, now, new, aid)
    admitted = admitted + 1
    history_admit_one(now, aid)
    return {c = 1, t = new, s = 'admitted', w = w, e = ends, u = nonempty(user), j = aid}
  end
  -- '%d', not fmt's '%.0f': a score is below 2^53, exact in a 64-bit long,
  -- and glibc prints a large double by multi-precision arithmetic, which was
  -- a good part of a joiner's cost (perf of redis-server, issue 13).
  local score = string.format('%d', take_score())
  cur_gen()
  local n = #new_line
  new_line[n + 1] = score
  new_line[n + 2] = new
  waiting = w + 1
  -- A new ticket in line (nearly every joiner of an opening second) has no
  -- result of its own: its place and score follow from the batch's first
  -- (see q above), and the caller knows its ticket, state and user.
  if not first then first = string.format('%d %s', waiting, score) end
  return NEW
end

local kinds, res = {}, {}
local shapes, tickets, a = ARGV[2], ARGV[5], 6
for k = 1, #shapes do
  local r
  local new = string.sub(tickets, 22 * k - 21, 22 * k)
  if string.byte(shapes, k) == 112 then -- 'p'
    r = join_one(k, new, '', '', '', '0')
  else
    r = join_one(k, new, ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3])
    a = a + 4
  end
  if r == NEW then
    kinds[#kinds + 1] = 'n'
  else
    kinds[#kinds + 1] = '.'
    res[#res + 1] = r
  end
end
flush_new()
count_admissions(now, admitted)
if arrivals > 0 then history_arrivals(now, arrivals) end
if clock_next then redis.call('SET', K.clock, string.format('%d', clock_next - 1)) end
-- Marked only when it inserted someone: a refused join changes nothing.
if fresh and inserted then
  redis.call('ZADD', jb, now_s, ARGV[1])
  local trimmed = tonumber(st[5] or '0')
  if now - trimmed >= 1000 or now < trimmed then
    -- Each marker lives at least a minute: the expiry is renewed at most
    -- a second before any marker added after it.
    redis.call('ZREMRANGEBYSCORE', jb, '-inf', string.format('%d', now - 60000))
    redis.call('PEXPIRE', jb, '61000')
    redis.call('HSET', K.stats, 'jb_trim', now_s)
  end
end
local lastmin = 0
if st[3] and now - tonumber(st[3]) <= 60000 then lastmin = tonumber(st[2]) end
local fa = tonumber(st[1] or '0')
if fa == 0 and admitted > 0 then fa = now end -- count_admissions' HSETNX
if #res == 0 then res = nil end -- cjson writes an empty table as {}
return answer({v = tonumber(cv[2] or '0'), m = lastmin, f = fa, n = now, o = cfg.opens_at,
  i = cfg.interval, k = table.concat(kinds), q = first, r = res})
