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

-- catchup_ms is how late a tick may run and still keep the loop anchored on
-- its due time (half the interval, at most 500 ms): any later, the loop
-- goes on from now. Each tick then runs at most that long after a due time
-- and due times are an interval apart, so a window of w ms holds at most
-- w / interval + 1 ticks, whatever the lateness.
local function catchup_ms(iv)
  return math.floor(math.min(iv, 1000) / 2)
end
