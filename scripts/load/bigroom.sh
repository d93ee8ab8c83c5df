#!/usr/bin/env bash
# Join and status latency in an empty room and in a room with N waiting
# visitors (issue 7: 10 000 000), back to back on one waitroom process and
# one Redis, plus Redis memory per waiting visitor at that size.
#   N=10000000 scripts/load/bigroom.sh
# The big line is seeded straight into the room's line sorted set (the
# structure a join writes: 22-character tickets, hybrid-clock scores) by a
# Lua loop, because ten million joins through the script would take minutes
# of Redis time; the joins and status requests measured are real.
set -u
N="${N:-10000000}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
build waitroom loadgen || exit 1
cd "$work"
port=6394
start_waitroom $port 8091
cfg='{"mode":"queue_all","capacity":0,"batch_size":100,"interval_ms":1000,"abandon_after_s":0,"paused":true}'
measure() { # room
	./loadgen -url http://127.0.0.1:8091 -room "$1" -visitors "${VISITORS:-20000}" -concurrency "${CONC:-100}" \
		-sockets=false -status-polls 2 -status-every 10ms -admin-token loadtoken -room-config "$cfg" -hold 1s -duration 5m 2>&1 |
		grep -E '^(joins|status|errors|result)'
}
measure warmup >/dev/null # first run after start: connections, pools, caches
echo "== empty room"
measure empty
echo "== room with $N waiting"
curl -s -X PUT -H "Authorization: Bearer loadtoken" -H "Content-Type: application/json" -d "$cfg" http://127.0.0.1:8091/api/admin/rooms/big >/dev/null
# One real join makes the room's first line generation; the seed goes into
# it with scores an hour in the past, so every later join queues behind.
curl -s -X POST http://127.0.0.1:8091/api/rooms/big/tickets >/dev/null
gen=$(redis-cli -p $port zrange 'wr:{big}:gens' 0 0)
before=$(redis-cli -p $port info memory | awk -F: '/^used_memory:/{print $2}' | tr -d '\r')
seed='local base = (tonumber(redis.call("TIME")[1]) * 1000 - 1735689600000 - 3600000) * 4096
for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do
  redis.call("ZADD", KEYS[1], base + i, string.format("seed%018d", i))
end
return 1'
for ((from = 1; from <= N; from += 100000)); do
	to=$((from + 99999)); [ $to -gt "$N" ] && to=$N
	redis-cli -p $port eval "$seed" 1 "wr:{big}:line:$gen" $from $to >/dev/null
done
after=$(redis-cli -p $port info memory | awk -F: '/^used_memory:/{print $2}' | tr -d '\r')
echo "redis memory: $(( (after - before) / N )) bytes per waiting visitor ($N seeded, used_memory $before → $after)"
measure big
kill $W; wait $W 2>/dev/null
redis-cli -p $port shutdown nosave >/dev/null 2>&1
echo "logs in $work"
