-- end.lua: ends a deleted room's SQS loop by removing its fence, unless the
-- fence already belongs to a newer generation (the room was created again
-- and a new loop seeded meanwhile).
-- KEYS[1] wr:{room}:loop (fields in claim.lua)
-- ARGV[1] gen of the loop that found its room gone
-- Returns cjson {ended = true} when the fence was removed, {ended = false}
-- when it was not this loop's.
local gen = redis.call('HGET', KEYS[1], 'gen')
if gen and tonumber(gen) == tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return cjson.encode({ended = true})
end
return cjson.encode({ended = false})
