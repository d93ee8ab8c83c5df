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
-- A ticket still waiting, in the pre-queue or admitted keeps its place
-- (a page refresh); a user keeps the one place they have.
if given ~= '' and locate(gen_ids(), given, now) then return status(cfg, now, given, 0) end
if user ~= '' then
  local held = redis.call('HGET', K.byuser, user)
  if held and locate(gen_ids(), held, now) then return status(cfg, now, held, 0) end
end
if cfg.mode == 'reject' then return {-3} end

local ticket = ARGV[1]
if before_open(cfg, now) then
  redis.call('ZADD', K.pre, ARGV[4], ticket)
else
  local admit_now = false
  if not cfg.paused then
    if cfg.mode == 'passthrough' then
      admit_now = true
    elseif cfg.mode == 'auto' and waiting_count(gen_ids()) == 0 then
      admit_now = cfg.capacity == 0 or live_admitted(now) < cfg.capacity
    end
  end
  if admit_now then
    admit(cfg, now, ticket)
    count_admissions(now, 1)
  else
    local gk = gen_key(current_gen(cfg, now))
    redis.call('ZADD', gk, fmt(next_scores(now, 1)), ticket)
  end
end
if user ~= '' then
  redis.call('HSET', K.users, ticket, user)
  redis.call('HSET', K.byuser, user, ticket)
end
return status(cfg, now, ticket, 1)
