-- lib.lua: the prelude of every booking script, prepended when the scripts
-- are loaded, so the clock and the reading of a seat's state come from one
-- place.
--
-- KEYS, the same for every script (all carry the room's hash tag {room}):
--   KEYS[1] seats  zset  the seat map: seat id -> its index in the operator's order
--   KEYS[2] taken  hash  seats that are not available:
--                        seat id -> 'h:<hold end, unix ms>:<visitor>' (held)
--                                or 'b:<booking id>:<visitor>'       (booked)
--   KEYS[3] holds  zset  seat id -> hold end (unix ms): the holds of taken,
--                        kept to find ended ones without a scan
-- Built from KEYS[1] as prefix, so they share its hash tag:
--   wr:{room}:seats:mine:<visitor>  set   the seats the visitor holds or booked
--   wr:{room}:seats:stage:<upload>  zset  a seat map being uploaded
--
-- A visitor is the entry token's sub. The visitor comes last in a taken
-- value, so it may hold any byte, ':' included; booking ids never hold ':'.
--
-- A hold ends by itself: every script reads a seat through live(), which
-- frees a hold whose end has passed on the spot, so an ended hold is free at
-- once even before sweep() gets to it. Time is Redis's (TIME), never the
-- caller's.

local K = {seats = KEYS[1], taken = KEYS[2], holds = KEYS[3]}
local PREFIX = K.seats .. ':' -- "wr:{room}:seats:"

-- Every script answers with one cjson object: its result, or {err = code}
-- when it refuses. errors.go maps each code to a named error.
local SEAT_NOT_FOUND, SEAT_UNAVAILABLE, LIMIT_REACHED = 'seat_not_found', 'seat_unavailable', 'limit_reached'
local HOLD_REQUIRED, BOOKING_NOT_FOUND = 'hold_required', 'booking_not_found'
local UPLOAD_INCOMPLETE = 'upload_incomplete'

-- answer encodes a script's reply: a table, or a refusal's code.
local function answer(r)
  if type(r) == 'string' then return cjson.encode({err = r}) end
  return cjson.encode(r)
end

-- SWEEP bounds the ended holds one call frees, so a call never stalls Redis.
local SWEEP = 100

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function fmt(n) return string.format('%.0f', n) end

local function mine_key(visitor) return PREFIX .. 'mine:' .. visitor end

-- decode splits a taken value into kind ('h' or 'b'), its datum (the hold
-- end as a number, or the booking id) and the visitor.
local function decode(v)
  local kind = string.sub(v, 1, 1)
  local sep = string.find(v, ':', 3, true)
  local datum = string.sub(v, 3, sep - 1)
  if kind == 'h' then datum = tonumber(datum) end
  return kind, datum, string.sub(v, sep + 1)
end

-- free makes seat available and forgets it in its owner's set.
local function free(seat, owner)
  redis.call('HDEL', K.taken, seat)
  redis.call('ZREM', K.holds, seat)
  redis.call('SREM', mine_key(owner), seat)
end

-- live returns seat's state at now: nil when available, else kind, datum and
-- owner as decode returns them. A hold that has ended is freed here.
local function live(seat, now)
  local v = redis.call('HGET', K.taken, seat)
  if not v then return nil end
  local kind, datum, owner = decode(v)
  if kind == 'h' and datum <= now then
    free(seat, owner)
    return nil
  end
  return kind, datum, owner
end

-- sweep frees up to SWEEP holds that have ended, oldest first.
local function sweep(now)
  local due = redis.call('ZRANGEBYSCORE', K.holds, '-inf', now, 'LIMIT', 0, SWEEP)
  for _, seat in ipairs(due) do
    -- A seat still live after its indexed end had a stale index entry.
    if live(seat, now) then redis.call('ZREM', K.holds, seat) end
  end
end

-- owned counts the seats the visitor holds or booked at now, dropping set
-- members that no longer belong to the visitor.
local function owned(visitor, now)
  local key = mine_key(visitor)
  local n = 0
  for _, seat in ipairs(redis.call('SMEMBERS', key)) do
    local kind, _, owner = live(seat, now)
    if kind and owner == visitor then
      n = n + 1
    else
      redis.call('SREM', key, seat)
    end
  end
  return n
end

-- ---- end of lib.lua; the script follows ----
