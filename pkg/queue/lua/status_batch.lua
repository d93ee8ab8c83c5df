-- status_batch.lua: where each of many tickets of one room stands, in one
-- call (group commit of status requests, batch.go); each answer is what
-- status.lua gives that ticket, presence recorded the same way.
-- Touches: KEYS as in lib.lua (cfg, pre, adm, gens, the line generations,
-- users, aid, stats, ver, preseen; rate and clock when the pre-queue opens).
-- ARGV[1] '1' when the answers wait for replicas (Options.WaitReplicas):
--   a batch that answers an admitted ticket then writes a counter, so that
--   a WAIT after it on the same connection covers the tick that admitted
--   the ticket (the replication stream is in order; a read alone gives
--   WAIT nothing to wait for)
-- ARGV[2..] the tickets, in arrival order
-- Returns {v=event version, m=admissions last minute, f=first admission ms,
--   n=now ms, o=opens_at ms, i=interval ms, r=[one result per ticket]}, or
--   refuses ROOM_NOT_FOUND; a result is {err=TICKET_NOT_FOUND}, else
--   {t=ticket, s=state, p=position, w=waiting, sc=score (a string),
--   e=admission end ms, u=user, j=admission id}, what is zero or empty left
--   out: join_batch.lua's shape, so batch.go reads both alike.
--
-- What a status costs is mostly figures the whole batch shares (the
-- generations, the line's length, the opening's rest, the stats), so they
-- are read once; none of them changes while the batch runs, except the
-- generations when the first presence opens a new one.
local cfg = load_cfg()
if not cfg then return answer(ROOM_NOT_FOUND) end
local now = now_ms()
open_prequeue(cfg, now, OPEN_STEP)

local ids = gen_ids()
local cur -- the current generation, opened on the first waiting ticket
local left, stop = opening()
local total, pre_total -- the line's and the pre-queue's length, read once

local function one(ticket)
  local state, a, id = locate(ids, ticket, now)
  if not state then return {err = TICKET_NOT_FOUND} end
  -- Zero and empty fields are left out (batch.go reads them as such).
  local r = {t = ticket, s = state, u = redis.call('HGET', K.users, ticket) or nil}
  if state == 'waiting' then
    if not cur then
      cur = current_gen(cfg, now)
      ids = gen_ids() -- may hold the new generation, where the seen go
    end
    if cur ~= id then
      redis.call('ZREM', gen_key(id), ticket)
      redis.call('ZADD', gen_key(cur), fmt(a), ticket)
    end
    -- lib.lua's position, with the opening read once.
    local p = 1
    if left > 0 and a >= stop then p = p + left end
    -- '%d', not fmt's '%.0f': exact below 2^53 and far cheaper (see
    -- join_batch.lua).
    local sc = string.format('%d', a)
    local below = '(' .. sc
    for _, g in ipairs(ids) do p = p + redis.call('ZCOUNT', gen_key(g), '-inf', below) end
    r.p, r.sc = p, sc
  elseif state == 'admitted' then
    r.e = a
    r.j = redis.call('HGET', K.aid, ticket) or nil
  else
    redis.call('ZADD', K.preseen, 'XX', now, ticket)
    pre_total = pre_total or redis.call('ZCARD', K.pre)
    r.w = pre_total
    return r
  end
  total = total or waiting_count(ids)
  r.w = total
  return r
end

local res, admitted = {}, false
for i = 2, #ARGV do
  res[i - 1] = one(ARGV[i])
  admitted = admitted or res[i - 1].s == 'admitted'
end
if admitted and ARGV[1] == '1' then redis.call('HINCRBY', K.stats, 'durable_reads', 1) end
local st = redis.call('HMGET', K.stats, 'first_admit_ms', 'lastmin', 'lastmin_at')
local lastmin = 0
if st[3] and now - tonumber(st[3]) <= 60000 then lastmin = tonumber(st[2]) end
return answer({v = tonumber(redis.call('GET', K.ver) or '0'), m = lastmin,
  f = tonumber(st[1] or '0'), n = now, o = cfg.opens_at, i = cfg.interval, r = res})
