#!/usr/bin/env bash
# A/B of ticket status requests per second through HTTP: this tree's
# cmd/waitroom against another build (MAIN_BIN, e.g. main's), one after the
# other in the same run, each on its own fresh redis-server, with
# cmd/admitter running, a room in queue_all, per-address limits off. wrk first
# joins visitors for JOIN_DUR and keeps their tickets, then asks the status of
# those tickets, each connection cycling over all of them from its own
# offset (so nearly every request is another waiting visitor). CPU per
# process from /proc/<pid>/stat; script calls per status from Redis's INFO
# commandstats.
#   MAIN_BIN=/tmp/status-main-bin/waitroom ROUNDS=2 DUR=10s CONC=50 scripts/load/status_ab.sh
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ab_setup 6398
# join.lua keeps every new ticket, one file per wrk thread.
cat >>join.lua <<'EOF'
local n = 0
function setup(thread) n = n + 1; thread:set("id", n) end
function init() out = io.open("tickets-" .. id .. ".txt", "a") end
function response(status, headers, body)
  local t = body:match('"ticket":"([^"]+)"')
  if status == 201 and t then out:write(t, "\n"); out:flush() end
end
EOF
cat > status.lua <<'EOF'
local all = {}
for _, f in ipairs({"tickets-1.txt", "tickets-2.txt"}) do
  for t in io.lines(f) do all[#all + 1] = t end
end
local n = 0
function setup(thread) n = n + 1; thread:set("id", n) end
function init() i = math.floor(#all * (id - 1) / 2) end
function request()
  i = i % #all + 1
  return wrk.format("GET", "/api/rooms/load/tickets/" .. all[i])
end
EOF

# scripts: the script calls Redis has run so far and its time inside them (µs).
scripts() {
	redis-cli -p $port info commandstats | awk -F'[=,:]' '/^cmdstat_(evalsha|eval|fcall):/{c += $3; u += $5} END{print c+0, u+0}'
}

run() {
	local label=$1 bin=$2
	ab_start "$label" "$bin" 8094
	rm -f tickets-*.txt
	wrk -t2 -c"${CONC:-50}" -d"${JOIN_DUR:-3s}" -s join.lua http://127.0.0.1:8094/api/rooms/load/tickets >/dev/null
	echo "$label: $(cat tickets-*.txt | wc -l) tickets joined"
	local c0 c1
	c0=$(scripts)
	measure "$label$round-status" http://127.0.0.1:8094 -s status.lua
	c1=$(scripts)
	echo "$c0 $c1" | awk -v label="$label" '{c = $3 - $1; printf "%s: %d script calls, %.1f us of Redis inside each\n", label, c, ($4 - $2) / c}'
	ab_stop
}

ab_rounds
