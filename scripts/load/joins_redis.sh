#!/usr/bin/env bash
# Redis's own CPU per script call and per joiner of join_batch.lua, by batch
# size, on a fresh redis-server: redis-benchmark -c 1 of EVALSHA (an empty
# script, the lib.lua + history.lua prelude alone, then batches of 1, 16, 32
# and 64 new visitors with random tickets), CPU from INFO cpu before and
# after. LUA_DIR=dir takes the scripts from dir (another tree's
# pkg/queue/lua, for an A/B in the same run).
# PERF=1 also records `perf` of redis-server during batches of 16
# ($work/perf.data; `perf report -i ... --no-children --sort sym -g none`).
#   scripts/load/joins_redis.sh
#   LUA_DIR=/work/main/pkg/queue/lua scripts/load/joins_redis.sh
set -u
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d)"
cd "$work"
port=6412
redis-server --port $port --bind 127.0.0.1 --save "" --daemonize yes --dir "$work" --pidfile "$work/r.pid" --logfile "$work/r.log"
sleep 0.3
L=${LUA_DIR:-$repo/pkg/queue/lua}
(cat $L/lib.lua; echo "local HIST_TTL_S = 100"; cat $L/history.lua; echo "return 1") >prelude.lua
echo "return 1" >empty.lua
(cat $L/lib.lua; echo "local HIST_TTL_S = 100"; cat $L/history.lua; cat $L/join_batch.lua) >jb.lua
P='wr:{r}:'
K="${P}cfg ${P}pre ${P}adm ${P}gens ${P}clock ${P}ver ${P}users ${P}byuser ${P}rate ${P}stats ${P}aid ${P}byaid ${P}preseen"
redis-cli -p $port hset ${P}cfg capacity 0 batch_size 10 interval_ms 1000 session_ttl_s 600 mode queue_all paused 0 \
	opens_at 0 abandon_after_s 0 require_user 0 pow_work 0 >/dev/null
cpu() { redis-cli -p $port info cpu | tr -d '\r' | awk -F: '/used_cpu_(user|sys):/{s+=$2} END{printf "%.6f", s}'; }
per() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN{printf "%.1f", (b-a)*1e6/n}'; }
for s in empty prelude; do
	sha=$(redis-cli -p $port script load "$(cat $s.lua)")
	c0=$(cpu)
	redis-benchmark -p $port -n 20000 -c 1 -q evalsha "$sha" 13 $K >/dev/null
	echo "$s: $(per "$c0" "$(cpu)" 20000) us/call"
done
sha=$(redis-cli -p $port script load "$(cat jb.lua)")
# The joiners' ARGV: packed (shapes, shuffle keys, admission ids, tickets)
# where join_batch.lua takes them so, else seven fields each. A ticket is
# 22 characters: 10 and redis-benchmark's 12 random digits.
if grep -q "ARGV\[5\] the joiners' new tickets" "$L/join_batch.lua"; then
	joiners() {
		local p="" s="" a="" t="" i
		for i in $(seq "$1"); do
			p="${p}p" s="${s}00000000000005" a="${a}$(printf 'a%021d' "$i")" t="${t}$(printf 't%09d' "$i")__rand_int__"
		done
		echo "$p $s $a $t"
	}
else
	joiners() { local a="" i; for i in $(seq "$1"); do a="$a t__rand_int__$i '' '' 5 a$i '' 0"; done; echo "$a"; }
fi
for n in 1 16 32 64; do
	c0=$(cpu)
	eval redis-benchmark -p $port -n 5000 -c 1 -r 100000000000 -q evalsha "$sha" 13 $K b__rand_int__ "$(joiners $n)" >/dev/null
	c1=$(cpu)
	echo "join_batch of $n: $(per "$c0" "$c1" 5000) us/call, $(per "$c0" "$c1" $((5000 * n))) us/joiner"
done
if [ -n "${PERF:-}" ]; then
	perf record -F 2000 -g -o "$work/perf.data" -p "$(cat r.pid)" -- sleep 4 2>/dev/null &
	pr=$!
	sleep 0.2
	eval redis-benchmark -p $port -n 8000 -c 1 -r 100000000000 -q evalsha "$sha" 13 $K b__rand_int__ "$(joiners 16)" >/dev/null
	wait $pr
	echo "perf: $work/perf.data"
fi
redis-cli -p $port shutdown nosave >/dev/null 2>&1
