-- admission.lua: is the admission behind an entry token still live? The
-- token's subject is the external user id given at join, or else the ticket.
-- Touches (reads only): adm, byuser (KEYS as in lib.lua).
-- ARGV[1] subject
-- Returns {1, ticket, admission end ms} while live, else {0}.
local sub = ARGV[1]
local ticket = redis.call('HGET', K.byuser, sub) or sub
local e = redis.call('ZSCORE', K.adm, ticket)
if e and tonumber(e) > now_ms() then return {1, ticket, tonumber(e)} end
return {0}
