-- join.lua: a visitor joins the room, or gets back the place they hold.
-- Touches: cfg, pre, preseen, adm, aid, byaid, gens, the line generations,
-- clock, users, byuser, rate, stats, and wr:{room}:pow:<challenge>
-- (KEYS as in lib.lua).
-- ARGV[1] new ticket (used only if the visitor holds no place)
-- ARGV[2] ticket the visitor presented ('' if none)
-- ARGV[3] verified user id ('' if none): the caller checked the user token
-- ARGV[4] random key for the pre-queue shuffle (integer < 2^53, crypto/rand)
-- ARGV[5] admission id (jti) should the visitor be admitted at once
-- ARGV[6] id of the visitor's solved proof of work ('' if none); the caller
--         checked the solution, this script makes it single-use
-- ARGV[7] when that proof of work expires (unix ms)
-- Returns the status reply of lib.lua, created true (a new ticket) or false
-- (the same ticket as before), or refuses ROOM_NOT_FOUND, ROOM_CLOSED,
-- USER_REQUIRED, POW_REQUIRED, POW_USED.
--
-- The mode decision and the enqueue are one script, so two joiners can never
-- both take the last free place.
local cfg = load_cfg()
if not cfg then return answer(ROOM_NOT_FOUND) end
local now = now_ms()
open_prequeue(cfg, now, OPEN_STEP)

local given, user, pow = ARGV[2], ARGV[3], ARGV[6]
-- The new ticket is 128 random bits: finding it here means this very join
-- already ran and its reply was lost (the client retried after a network
-- error). Answer as the first run did, so a retry never moves the place.
if locate(gen_ids(), ARGV[1], now) then return answer(status(cfg, now, ARGV[1], true)) end
-- A ticket still waiting, in the pre-queue or admitted keeps its place
-- (a page refresh) with no new proof of work; a verified user keeps the one
-- place they have, on any device. Nobody else gets a ticket back.
if given ~= '' and locate(gen_ids(), given, now) then return answer(status(cfg, now, given, false)) end
if user ~= '' then
  local held = redis.call('HGET', K.byuser, user)
  if held and locate(gen_ids(), held, now) then return answer(status(cfg, now, held, false)) end
end
if cfg.mode == 'reject' then return answer(ROOM_CLOSED) end
if cfg.require_user and user == '' then return answer(USER_REQUIRED) end
if cfg.pow_work > 0 then
  if pow == '' then return answer(POW_REQUIRED) end
  -- SET NX is the single use: the key lives until the challenge expires, on
  -- the room's slot, so every instance sees it.
  local ok = redis.call('SET', PREFIX .. 'pow:' .. pow, '1', 'NX', 'PXAT', ARGV[7])
  if not ok then return answer(POW_USED) end
end

local ticket = ARGV[1]
if user ~= '' then
  redis.call('HSET', K.users, ticket, user)
  redis.call('HSET', K.byuser, user, ticket)
end
history_count(now, 'ar', 1)
-- A new ticket's standing is known without looking it up: this is the
-- hot path of a sale's opening second.
if before_open(cfg, now) then
  redis.call('ZADD', K.pre, ARGV[4], ticket)
  redis.call('ZADD', K.preseen, now, ticket)
  return answer(reply(cfg, now, true, ticket, 'prequeue', 0, redis.call('ZCARD', K.pre), '0', 0, user))
end
local ids = gen_ids()
local waiting = waiting_count(ids)
if not cfg.paused and (cfg.mode == 'passthrough' or (cfg.mode == 'auto' and waiting == 0
    and (cfg.capacity == 0 or live_admitted(now) < cfg.capacity))) then
  local ends = admit(cfg, now, ticket, ARGV[5])
  count_admissions(now, 1)
  history_admit_one(now, ARGV[5])
  return answer(reply(cfg, now, true, ticket, 'admitted', 0, waiting, '0', ends, user, ARGV[5]))
end
local score = next_scores(now, 1)
redis.call('ZADD', gen_key(current_gen(cfg, now)), fmt(score), ticket)
-- Scores only grow, so the newcomer is last: its position is the line's length.
return answer(reply(cfg, now, true, ticket, 'waiting', waiting + 1, waiting + 1, fmt(score), 0, user))
