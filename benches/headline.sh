#!/usr/bin/env bash
# Benchmark (issue 11's headline; not a test: it prints figures and says which goals held):
# 4000 virtual lamps from ONE generator process against mosquitto (set_tcp_nodelay true) on the same host.
#
#   bash benches/headline.sh [--lamps N] [--rate X] [--seconds S] [--ramp-up S]
#        defaults: 4000 lamps, rate x3.3 of the smoke profile's MQTT sessions (about 19,000 messages/s), 60 s
#        measured from 5 s after a 10 s ramp-up (the ramp-up's backlog: sessions that began before their lamp
#        was connected wait for it, late, and are counted so)
#   bash benches/headline.sh --seconds 600        the 10-minute memory run
#   bash benches/headline.sh --seconds 120 --stall 75:3
#                                                 a backlog on purpose: mosquitto stopped (SIGSTOP) for 3 s at 75 s
#                                                 after the generator started, then let go on (SIGCONT). The stall's
#                                                 round trips time out (failures, by design); what it shows is whether
#                                                 the generator's memory comes back after a backlog (RSS before the
#                                                 stall, its peak, and at the window's end)
#   bash benches/headline.sh --no-pin             both processes free to share the cores (by default mosquitto runs
#                                                 on CPU 1 and the generator on CPU 0, with taskset: shared, the
#                                                 scheduler moving two busy processes across two cores costs a
#                                                 tail of hundreds of ms and a third more CPU, measured) (RSS growth after the first minute)
#
# Every lamp has its lamp connection (answering set_config as `lampi-agent run` does) and an owner connection per
# app or touchscreen session; every publish's PUBACK and every set_config's round trip is timed. Prints, from the
# run's own files and /proc: the generator's MQTT messages sent per second over the measured window (set_config,
# the responders' lamp/changed answers and touchscreen changes; min and mean of its 1 s intervals), failures, the
# round trip p99, the generator's and mosquitto's mean CPU (of one core), the generator's RSS (max, and growth
# after the first minute), the host's steal time per CPU (over the window and in its worst 1 s interval: a tail
# with neither process saturated is the host's when the hypervisor ran something else meanwhile), the kernel's TCP
# listen queue overflows, SYN retransmits and retransmission timeouts over the run (host-wide counters), and each
# goal as met or not. Past the knee it says which side saturated.
# Needs mosquitto. Builds the release binary into $CARGO_TARGET_DIR (default ~/.cache/lampi-agent/bench-target).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAMPS=4000 RATE=3.3 SECONDS_=60 RAMP=10 SETTLE=5 PIN=1 STALL=
while [[ $# -gt 0 ]]; do
    case $1 in
        --lamps) LAMPS=$2; shift 2 ;;
        --rate) RATE=$2; shift 2 ;;
        --seconds) SECONDS_=$2; shift 2 ;;
        --ramp-up) RAMP=$2; shift 2 ;;
        --no-pin) PIN=; shift ;;
        --stall) STALL=$2; shift 2
                 [[ $STALL =~ ^[0-9]+:[0-9]+$ ]] || { echo "headline.sh: --stall wants AT:SECONDS (e.g. 75:3), not '$STALL'" >&2; exit 64; } ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d'; exit 0 ;;
        *) echo "headline.sh: unknown argument '$1'" >&2; exit 64 ;;
    esac
done
export PATH="$PATH:/usr/sbin"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/lampi-agent/bench-target}
(cd "$ROOT" && cargo build --locked --release --no-default-features --features gpio -q)
BIN=$CARGO_TARGET_DIR/release/lampi-agent
work=$(mktemp -d -t lampi-headline.XXXXXX)
trap 'kill -CONT ${broker:-} 2>/dev/null; kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; [[ -n ${KEEP:-} ]] && echo "kept $work" || rm -rf "$work"' EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# Pinned (the default): taskset execs the program, so $! stays the program's own pid (its /proc figures are read below).
pin0=(); pin1=()
if [[ -n $PIN && $(nproc) -ge 2 ]] && command -v taskset >/dev/null; then pin0=(taskset -c 0); pin1=(taskset -c 1); else PIN=; fi
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs); $(date -u +%FT%TZ); $("$BIN" --version | head -1)${PIN:+; pinned: mosquitto on CPU 1, generator on CPU 0}"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
{ printf 'listener %s 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\nmax_connections -1\n' "$port"
  printf 'max_queued_messages 10000\npersistence false\n'; [[ $(id -u) -eq 0 ]] && printf 'user root\n'; } > "$work/m.conf"
"${pin1[@]}" mosquitto -c "$work/m.conf" >"$work/m.log" 2>&1 &
broker=$!
for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.05; done
# The smoke profile's MQTT sessions only: no web sessions, no connection churn.
cp "$ROOT/config/profiles/smoke.toml" "$work/mqtt.toml"
sed -i -e 's/^web = 0.5/web = 0/' -e 's/^app = 0.25/app = 0.5/' -e 's/^lamp_ui = 0.25/lamp_ui = 0.5/' -e 's/^per_hour = 180/per_hour = 0/' "$work/mqtt.toml"
"$BIN" -q loadtest --profile "$work/mqtt.toml" --dry-run --devices 1 >/dev/null  # still a valid profile

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
steal_ticks() { awk '/^cpu[0-9]/ {printf "%s ", $9}' /proc/stat; }  # per CPU: time the hypervisor ran something else
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || true; }
b0=$(cpu_ticks "$broker")
cp /proc/net/netstat "$work/netstat.0"  # the kernel's TCP counters (listen queue overflows, SYN retransmits) before
backlog=$(ss -Hltn "sport = :$port" 2>/dev/null | awk '{print $3; exit}')  # the broker's accept queue (ss: Send-Q)
"${pin0[@]}" "$BIN" -q loadtest --profile "$work/mqtt.toml" --devices "$LAMPS" --rate "$RATE" --duration "$((SECONDS_ + RAMP + SETTLE))s" \
    --ramp-up "${RAMP}s" --broker "127.0.0.1:$port" --responder internal --no-preflight --seed 1 --interval 1s \
    --out "$work/run" >/dev/null 2>"$work/run.err" &
gen=$!
if [[ -n $STALL ]]; then  # the backlog on purpose: stop the broker at AT s for SECONDS s
    (sleep "${STALL%:*}"; kill -STOP "$broker"; sleep "${STALL#*:}"; kill -CONT "$broker") &
fi
: > "$work/rss"
while kill -0 "$gen" 2>/dev/null; do  # every second, from outside: the generator's RSS, its and the broker's CPU
    r=$(rss_kb "$gen"); g=$(cpu_ticks "$gen" 2>/dev/null || true)
    [[ -n $r && -n $g ]] && echo "$(date +%s.%N) $r $g $(cpu_ticks "$broker") $(steal_ticks)" >> "$work/rss"
    sleep 1
done
wait "$gen" || { echo "the generator failed:"; tail "$work/run.err"; exit 1; }
b1=$(cpu_ticks "$broker")
cp /proc/net/netstat "$work/netstat.1"
python3 - "$work/run" "$work/rss" "$(( b1 - b0 ))" "$(getconf CLK_TCK)" "$LAMPS" "$((RAMP + SETTLE))" "$SECONDS_" "$STALL" "$work/netstat" "${backlog:-?}" <<'PY'
import json, sys
d, rss_file, bticks, hz, lamps, ramp, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
stall = tuple(int(x) for x in sys.argv[8].split(":")) if sys.argv[8] else None
def tcp_ext(path):  # /proc/net/netstat: a "TcpExt:" line of names, then one of values
    lines = [l.split() for l in open(path) if l.startswith("TcpExt:")]
    return dict(zip(lines[0][1:], map(int, lines[1][1:]))) if len(lines) >= 2 else {}
tcp0, tcp1 = tcp_ext(sys.argv[9] + ".0"), tcp_ext(sys.argv[9] + ".1")
tcp = {k: tcp1[k] - tcp0.get(k, 0) for k in ("ListenOverflows", "TCPSynRetrans", "TCPTimeouts") if k in tcp1}
s = json.load(open(f"{d}/summary.json")); r = s["results"]; el = r["elapsed_s"]
ops = {(o["kind"], o["name"]): o for o in r["ops"]}
rt = ops.get(("MQTT", "roundtrip"), {})
# Per 1 s interval from latency.csv: the generator's messages = set_config + one answer per set_config + touchscreen.
per = {}  # timestamp -> messages, in the order of the file (one row per operation per interval)
rt99 = {}  # timestamp -> the interval's round trip p99 (ms)
for line in open(f"{d}/latency.csv"):
    if line.startswith("#"): continue
    x = line.rstrip("\n").split(";")
    length, stamp, name, count = int(x[1]), x[2], x[4], int(x[5])
    if length == 0: continue  # the partial last interval
    per[stamp] = per.get(stamp, 0) + {"publish set_config": 2, "publish changed": 1}.get(name, 0) * count
    if name == "roundtrip" and x[13]:
        rt99[stamp] = float(x[13])
stamps = list(per)[ramp:ramp + secs]
window = [per[t] for t in stamps]
worst_interval_p99 = max((rt99.get(t, 0.0) for t in stamps), default=None)
worst_stamp = max(stamps, key=lambda t: rt99.get(t, 0.0), default=None)

# The window's own round-trip p99, from latency.hlog: the HdrHistogram interval log (V2 compressed histograms,
# values in us) of every interval in the window, added up.
import base64, struct, zlib
def hdr_counts(b64):
    raw = base64.b64decode(b64)
    cookie, n = struct.unpack(">ii", raw[:8])
    body = zlib.decompress(raw[8:8 + n])
    _, length, _, digits, lowest, _, _ = struct.unpack(">iiiiqqd", body[:40])
    sub = 1 << (int(2 * 10 ** digits - 1).bit_length())  # sub-bucket count: the power of 2 above 2 * 10^digits
    half_mag = sub.bit_length() - 2; half = sub // 2; unit = max(lowest, 1).bit_length() - 1
    counts, i, pos, data = {}, 0, 0, body[40:40 + length]
    while pos < len(data):
        v, shift = 0, 0
        while True:  # LEB128, at most 9 bytes, the 9th whole
            byte = data[pos]; pos += 1
            if shift == 56: v |= byte << 56; break
            v |= (byte & 0x7F) << shift; shift += 7
            if not byte & 0x80: break
        v = (v >> 1) ^ -(v & 1)  # ZigZag
        if v < 0: i += -v; continue
        if v:
            b_idx = (i >> half_mag) - 1; s_idx = (i & (half - 1)) + half
            if b_idx < 0: s_idx -= half; b_idx = 0
            counts[s_idx << (b_idx + unit)] = counts.get(s_idx << (b_idx + unit), 0) + v
        i += 1
    return counts
t_lo, t_hi = ramp, ramp + secs  # seconds from the run's start
win = {}
for line in open(f"{d}/latency.hlog"):
    if not line.startswith("Tag=MQTT.roundtrip,"): continue
    _, start, length, _, h = line.strip().split(",")
    if float(start) >= t_lo - 0.5 and float(start) + float(length) <= t_hi + 0.5:
        for v, c in hdr_counts(h).items(): win[v] = win.get(v, 0) + c
total_rt = sum(win.values())
acc, window_p99 = 0, None
for v in sorted(win):
    acc += win[v]
    if acc >= 0.99 * total_rt: window_p99 = v / 1000; break
fails = r["aggregated"]["failures"]
p99 = (rt.get("latency_ms") or {}).get("p99")
g = s["generator"]; gen_cpu = g["cpu_mean_pct"]; broker_cpu = 100.0 * bticks / hz / el
samples = [l.split() for l in open(rss_file) if l.strip()]
rss = [(float(x[0]), int(x[1])) for x in samples]
# Mean CPU of each process over the measured window, from the per-second samples of /proc/<pid>/stat.
inwin = [(float(x[0]), int(x[2]), int(x[3])) for x in samples if ramp <= float(x[0]) - float(samples[0][0]) <= ramp + secs]
if len(inwin) > 1:
    span = inwin[-1][0] - inwin[0][0]
    gen_win = 100.0 * (inwin[-1][1] - inwin[0][1]) / hz / span
    broker_win = 100.0 * (inwin[-1][2] - inwin[0][2]) / hz / span
else:
    gen_win = broker_win = None
rss_max = max((k for _, k in rss), default=0) / 1024
# The host's steal time per CPU (the hypervisor running something else on it), from /proc/stat each second: a tail
# with neither process saturated is either the host's (steal) or the processes' own.
import calendar, time as _time
steal = [(float(x[0]), [int(v) for v in x[4:]]) for x in samples if len(x) > 4]
def steal_at(t):  # per CPU, the steal ticks at epoch t, interpolated between the samples around it
    for (ta, va), (tb, vb) in zip(steal, steal[1:]):
        if ta <= t <= tb and tb > ta:
            return [x + (y - x) * (t - ta) / (tb - ta) for x, y in zip(va, vb)]
    return None
def steal_pct(a, b):  # per CPU, % of [a, b], within the sampled span (the monitor's last sample may come before the run's end)
    if len(steal) < 2: return None
    a, b = max(a, steal[0][0]), min(b, steal[-1][0])
    if b - a < 0.5: return None
    va, vb = steal_at(a), steal_at(b)
    return None if va is None or vb is None else [100.0 * (y - x) / hz / (b - a) for x, y in zip(va, vb)]
def epoch(stamp): return calendar.timegm(_time.strptime(stamp, "%Y-%m-%d %H:%M:%S UTC"))
def cpus(pcts): return ", ".join(f"CPU {i} {p:.1f}%" for i, p in enumerate(pcts))
steal_win = steal_pct(epoch(stamps[0]) - 1, epoch(stamps[-1])) if stamps else None
steal_worst = steal_pct(epoch(worst_stamp) - 1, epoch(worst_stamp)) if worst_stamp else None
t0 = rss[0][0] if rss else 0
after = [k for t, k in rss if 60 <= t - t0 <= ramp + secs]  # to the window's end: not the stop's teardown
growth = (100.0 * (after[-1] - after[0]) / after[0]) if len(after) > 1 else None
total = sum(window)
print(f"{lamps} lamps (connected: {s['lamps_connected']}), {secs} s measured from {ramp} s after the start (ramp-up and its backlog before):")
print(f"  generator MQTT messages sent: mean {total / max(len(window), 1):,.0f}/s, min {min(window, default=0):,}/s over 1 s intervals "
      f"({total:,} in the window)")
print(f"  failures: {fails:,} of {r['aggregated']['count']:,} operations; round trip p99 over the window {window_p99} ms "
      f"({total_rt:,} round trips; worst 1 s interval's p99 {worst_interval_p99} ms); whole run incl. ramp-up: p99 {p99} ms, "
      f"p50 {(rt.get('latency_ms') or {}).get('p50')} ms, {rt.get('count', 0):,} round trips timed")
print(f"  CPU mean over the measured window, of one core: generator {gen_win:.0f}%, mosquitto {broker_win:.0f}%; "
      f"whole run: generator {gen_cpu:.0f}% (max {g['cpu_max_pct']:.0f}% in a 1 s interval), mosquitto {broker_cpu:.0f}%")
if steal_win is not None:
    worst_at = f"{epoch(worst_stamp) - rss[0][0]:.0f} s after the start" if rss else "?"
    print(f"  host steal (the hypervisor running something else on the CPU) over the window: {cpus(steal_win)}; "
          f"in the worst 1 s interval ({worst_at}): " + (cpus(steal_worst) if steal_worst else "not sampled"))
if tcp:
    print(f"  TCP over the run (the host's counters, /proc/net/netstat): listen queue overflows {tcp.get('ListenOverflows', 0):,}, "
          f"SYN retransmits {tcp.get('TCPSynRetrans', 0):,}, retransmission timeouts {tcp.get('TCPTimeouts', 0):,}; "
          f"mosquitto's listen backlog {sys.argv[10]} (a connection the full queue dropped waits 1 s for its first retransmit)")
print(f"  generator RSS max {rss_max:.0f} MB" + (f"; growth after the first minute {growth:+.1f}% ({after[0]/1024:.0f} -> {after[-1]/1024:.0f} MB)" if growth is not None else ""))
if stall and after:
    at, length = stall
    before = [k for t, k in rss if at - 5 <= t - t0 < at]
    peak = max((k for t, k in rss if at <= t - t0 <= ramp + secs), default=0)
    if before:
        print(f"  stall: mosquitto stopped {at}-{at + length} s after the start; generator RSS before it {before[-1]/1024:.0f} MB, "
              f"peak {peak/1024:.0f} MB, at the window's end {after[-1]/1024:.0f} MB ({100.0 * (after[-1] - before[-1]) / before[-1]:+.1f}% on before)")
print(f"  generator CPU per message: {gen_cpu / 100 * el * 1e6 / max(sum(per.values()), 1):.1f} us")
goals = [("messages/s >= 16,700 (min 1 s interval)", min(window, default=0) >= 16700),
         ("zero failures", fails == 0), ("round trip p99 <= 50 ms (measured window)", window_p99 is not None and window_p99 <= 50),
         ("generator mean CPU <= 1 core", gen_win is not None and gen_win <= 100), ("RSS <= 200 MB", rss_max <= 200)]
if growth is not None and secs >= 540:
    goals.append(("RSS growth after the first minute < 5%", growth < 5))
for name, ok in goals:
    print(f"  goal {name}: {'met' if ok else 'NOT met'}")
if not all(ok for _, ok in goals):
    g, b = gen_win or 0, broker_win or 0
    side = (f"both: the generator ({g:.0f}%) and mosquitto ({b:.0f}%, one thread) each at a full core" if g >= 90 and b >= 90 else
            f"mosquitto (one thread, {b:.0f}%)" if b >= 90 else
            f"the generator ({g:.0f}%)" if g >= 90 else
            "neither process at 90% of a core over the window: look at the host (2 cores shared with whatever else ran"
            + (f"; steal in the worst 1 s interval: {cpus(steal_worst)}" if steal_worst else "")
            + ")" + (f"; the broker's accept queue (backlog {sys.argv[10]}) overflowed {tcp['ListenOverflows']:,} times: "
               "connects that waited 1 s or more for a retransmit, and the round trips of the sessions waiting on them"
               if tcp.get("ListenOverflows") else ""))
    print(f"  saturated: {side}")
PY
