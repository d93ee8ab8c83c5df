"""Merges the results of scripts/load/sockets-many.sh: argv work dir, processes, CLK_TCK."""
import json, statistics, sys

work, procs, hz = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
res = [json.load(open(f"{work}/result{i}.json")) for i in range(1, procs + 1)]

# Tick times from the room's events (redis-cli prints kind, channel, payload).
ticks = []
for line in open(f"{work}/events.log"):
    line = line.strip()
    if line.startswith("{"):
        ev = json.loads(line)
        if ev.get("k") == "tick" and ev.get("n"):
            ticks.append(ev["n"])

held = sum(r["sockets_stats"]["peak_held"] for r in res)
opened = sum(r["sockets_stats"]["opened"] for r in res)
print(f"sockets: {opened} opened, {held} held at peak (sum over processes)")

# Per tick: each process's wave that began after it and before the next.
rows = []
for j, t in enumerate(ticks):
    nxt = ticks[j + 1] if j + 1 < len(ticks) else t + 60_000
    got = []
    for r in res:
        ws = [w for w in r["ticks"]["waves_list"] if t <= w["start_unix_ms"] < nxt]
        if ws:
            got.append(ws[0])
    if len(got) < procs:
        continue
    msgs = sum(w["positions"] + w["admissions"] for w in got)
    waiting = sum(w["waiting_sockets"] for w in got)
    p50 = [w["start_unix_ms"] - t + w["p50_ms"] for w in got]
    p99 = [w["start_unix_ms"] - t + w["p99_ms"] for w in got]
    last = max(w["last_unix_ms"] for w in got) - t
    rows.append((t, msgs, waiting, min(p50), max(p50), min(p99), max(p99), last, got))
if not rows:
    sys.exit(print("no tick reached every process"))
size = max(r[1] for r in rows)
print(f"{len(ticks)} ticks; per tick reaching every process, ms from the tick in Redis:")
print("  tick        msgs  coverage  p50 (range over procs)   p99 (range over procs)     last")
for t, msgs, waiting, a50, b50, a99, b99, last, _ in rows:
    cov = msgs / waiting if waiting else 0
    print(f"  {t}  {msgs:7d}  {cov:7.1%}  {a50:8.0f} – {b50:6.0f}          {a99:8.0f} – {b99:6.0f}        {last:7.0f}")
full = [r for r in rows if r[1] >= 0.9 * size]
if full:
    lasts = sorted(r[7] for r in full)
    print(f"full ticks ({len(full)}, ≥ 90 % of the largest): last socket p50 {statistics.median(lasts):.0f} ms, max {lasts[-1]:.0f} ms; per-process p99 up to {max(r[6] for r in full):.0f} ms")

# CPU and RSS of the servers, from cpu.log: time, then "utime+stime rss" per process.
samples = []
for line in open(f"{work}/cpu.log"):
    f = line.split()
    if len(f) != 1 + 2 * procs:
        continue
    try:
        cpu = sum(eval(f[1 + 2 * k]) for k in range(procs)) / hz
        rss = [int(f[2 + 2 * k]) for k in range(procs)]
    except Exception:
        continue
    samples.append((float(f[0]), cpu, rss))
if samples:
    base = sum(samples[0][2])
    peak = max(samples, key=lambda s: sum(s[2]))
    print(f"servers' RSS: peak sum {sum(peak[2]) / 1024:.0f} MiB ({', '.join(f'{x / 1024:.0f}' for x in peak[2])} MiB), "
          f"{sum(peak[2]) / max(held, 1):.2f} KiB per held socket; {(sum(peak[2]) - base) / max(held, 1):.2f} KiB above the processes at start ({base / 1024:.0f} MiB)")
    if full:
        t0, t1 = full[0][0] / 1000 - 0.5, max(w["last_unix_ms"] for w in full[-1][8]) / 1000 + 0.5
        inside = [s for s in samples if t0 <= s[0] <= t1]
        if len(inside) >= 2:
            a, b = inside[0], inside[-1]
            msgs = sum(r[1] for r in rows if a[0] * 1000 <= r[0] and max(w["last_unix_ms"] for w in r[8]) <= b[0] * 1000)
            print(f"servers' CPU per position update: {(b[1] - a[1]) / max(msgs, 1) * 1e6:.2f} µs ({b[1] - a[1]:.1f} s over {b[0] - a[0]:.0f} s, {msgs} messages)")

ex = {k: sum(r["exactness"][k] for r in res) for k in ("checked", "late", "mismatched", "inconclusive")}
print(f"exactness: {ex['checked']} sockets compared with a status request: {ex['late']} late, {ex['mismatched']} missed their update, {ex['inconclusive']} inconclusive")
adm = sum(r["admissions"]["admitted"] for r in res)
dup = sum(r["admissions"]["duplicated_visitors"] for r in res)
inv = [r["admissions"]["order"] for r in res]
print(f"admissions: {adm} admitted, {dup} duplicated; order per process: {json.dumps(inv)}")
errs = {}
for r in res:
    for k, v in (r.get("errors") or {}).items():
        errs[k] = errs.get(k, 0) + v
print(f"errors: {errs or 'none'}; failures: {[f for r in res for f in r['failures']] or 'none'}")
print("loadgen RSS peak (MiB): " + ", ".join(f"{r['server_memory']['loadgen_rss_peak_mib']:.0f}" for r in res))
