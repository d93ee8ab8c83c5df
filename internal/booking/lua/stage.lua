-- stage.lua: adds one chunk of a new seat map to its upload, out of sight of
-- visitors until commit.lua swaps it in. The upload expires if never
-- committed.
-- Touches: wr:{room}:seats:stage:<upload> only (KEYS as in lib.lua, for the
-- prefix).
-- ARGV[1] upload id
-- ARGV[2] index of the chunk's first seat in the whole map
-- ARGV[3] lifetime of the upload, ms
-- ARGV[4..] seat ids
-- Returns {staged = the number of seats staged so far}.
local key = PREFIX .. 'stage:' .. ARGV[1]
local first = tonumber(ARGV[2])
local args = {}
for i = 4, #ARGV do
  args[#args + 1] = first + i - 4
  args[#args + 1] = ARGV[i]
  if #args == 1000 then
    redis.call('ZADD', key, unpack(args))
    args = {}
  end
end
if #args > 0 then redis.call('ZADD', key, unpack(args)) end
redis.call('PEXPIRE', key, ARGV[3])
return answer({staged = redis.call('ZCARD', key)})
