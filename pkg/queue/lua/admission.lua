-- admission.lua: is the admission behind an entry token still live? The
-- token's jti is the admission id given when the visitor was admitted; once
-- that admission ends the id is forgotten, so no later admission of the same
-- visitor or user brings an old token back to life.
-- Touches (reads only, but for recording the arrival: history.lua):
-- adm, aid, byaid, users (KEYS as in lib.lua).
-- ARGV[1] admission id (the token's jti)
-- Returns {1, ticket, admission end ms, user ('' if none)} while live,
-- else {0}.
local ticket = redis.call('HGET', K.byaid, ARGV[1])
if not ticket then return {0} end
local e = redis.call('ZSCORE', K.adm, ticket)
if e and tonumber(e) > now_ms() and redis.call('HGET', K.aid, ticket) == ARGV[1] then
  arrived(ARGV[1])
  return {1, ticket, tonumber(e), redis.call('HGET', K.users, ticket) or ''}
end
return {0}
