-- admission.lua: is the admission behind an entry token still live? The
-- token's jti is the admission id given when the visitor was admitted; once
-- that admission ends the id is forgotten, so no later admission of the same
-- visitor or user brings an old token back to life.
-- Touches (reads only, but for recording the arrival: history.lua):
-- adm, aid, byaid, users (KEYS as in lib.lua).
-- ARGV[1] admission id (the token's jti)
-- Returns {ticket, ends = admission end ms, user ('' if none)} while live,
-- else refuses ADMISSION_ENDED.
local ticket = redis.call('HGET', K.byaid, ARGV[1])
if not ticket then return answer(ADMISSION_ENDED) end
local e = redis.call('ZSCORE', K.adm, ticket)
if e and tonumber(e) > now_ms() and redis.call('HGET', K.aid, ticket) == ARGV[1] then
  arrived(ARGV[1])
  return answer({ticket = ticket, ends = tonumber(e), user = redis.call('HGET', K.users, ticket) or ''})
end
return answer(ADMISSION_ENDED)
