-- join.lua: a visitor joins the room, or gets back the place they hold.
-- Touches: cfg, pre, adm, gens, the line generations, clock, users, byuser,
-- rate, stats (KEYS as in lib.lua).
-- ARGV[1] new ticket (used only if the visitor holds no place)
-- ARGV[2] ticket the visitor presented ('' if none)
-- ARGV[3] external user id ('' if none)
-- ARGV[4] random key for the pre-queue shuffle (integer < 2^53, crypto/rand)
-- Returns the status reply of lib.lua with code 1 (new ticket) or 0 (the
-- same ticket as before), or {-1} room not found, {-3} room closed.
--
-- The mode decision and the enqueue are one script, so two joiners can never
-- both take the last free place.
local cfg = load_cfg()
if not cfg then return {-1} end
local now = now_ms()
open_prequeue(cfg, now)

local given, user = ARGV[2], ARGV[3]
-- The new ticket is 128 random bits: finding it here means this very join
-- already ran and its reply was lost (the client retried after a network
-- error). Answer as the first run did, so a retry never moves the place.
if locate(gen_ids(), ARGV[1], now) then return status(cfg, now, ARGV[1], 1) end
-- A ticket still waiting, in the pre-queue or admitted keeps its place
-- (a page refresh); a user keeps the one place they have.
if given ~= '' and locate(gen_ids(), given, now) then return status(cfg, now, given, 0) end
if user ~= '' then
  local held = redis.call('HGET', K.byuser, user)
  if held and locate(gen_ids(), held, now) then return status(cfg, now, held, 0) end
end
if cfg.mode == 'reject' then return {-3} end

local ticket = ARGV[1]
if user ~= '' then
  redis.call('HSET', K.users, ticket, user)
  redis.call('HSET', K.byuser, user, ticket)
end
-- A new ticket's standing is known without looking it up: this is the
-- hot path of a sale's opening second.
if before_open(cfg, now) then
  redis.call('ZADD', K.pre, ARGV[4], ticket)
  return reply(cfg, now, 1, ticket, 'prequeue', 0, redis.call('ZCARD', K.pre), '0', 0, user)
end
local ids = gen_ids()
local waiting = waiting_count(ids)
if not cfg.paused and (cfg.mode == 'passthrough' or (cfg.mode == 'auto' and waiting == 0
    and (cfg.capacity == 0 or live_admitted(now) < cfg.capacity))) then
  local ends = admit(cfg, now, ticket)
  count_admissions(now, 1)
  return reply(cfg, now, 1, ticket, 'admitted', 0, waiting, '0', ends, user)
end
local score = next_scores(now, 1)
redis.call('ZADD', gen_key(current_gen(cfg, now)), fmt(score), ticket)
-- Scores only grow, so the newcomer is last: its position is the line's length.
return reply(cfg, now, 1, ticket, 'waiting', waiting + 1, waiting + 1, fmt(score), 0, user)
