-- lib.lua: the prelude of every pacer script, prepended when the scripts are
-- loaded. Time always comes from Redis, so admitters on hosts with skewed
-- clocks agree on when a tick is due.

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- fmt writes an integer without an exponent (ms and generations pass 2^31).
local function fmt(n)
  return string.format('%.0f', n)
end
