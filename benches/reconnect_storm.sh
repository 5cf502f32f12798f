#!/usr/bin/env bash
# Benchmark: what a reconnect storm costs this box (not a test: it prints figures).
#
#   bash benches/reconnect_storm.sh [LAMPS] [OUTAGE_SECONDS]        defaults: 4000 lamps, a 5 s outage
#
# LAMPS virtual lamps (`--responder internal`: each a lamp connection that behaves as `lampi-agent run`) connect to a
# private mosquitto on a free loopback port (ramp-up 20 s) and stay connected on an idle schedule (the evening profile
# at a rate of 0: connections and keepalives only, so the storm is all there is). Once every lamp has been up for two
# intervals the broker is killed, started again on the same port OUTAGE_SECONDS later, and the run's own records say
# how the fleet came back: seconds from the restart until every lamp was up again (connections.csv), the outage
# window from summary.json (interval resolution: 1 s; its time_to_recover_s counts from the kill), the peak connect attempts and failed
# attempts per second, the time to CONNACK, and the generator's CPU and memory.
# Needs: mosquitto. Builds the release binary without the demo broker (into $CARGO_TARGET_DIR, default
# ~/.cache/lampi-agent/bench-target).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LAMPS=${1:-4000}; OUTAGE=${2:-5}
export PATH="$PATH:/usr/sbin"
# Its own target dir, as peers.sh and headline.sh: a build without the demo broker never replaces target/release.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/lampi-agent/bench-target}
cargo build --release --locked --no-default-features --features gpio -q
BIN=$CARGO_TARGET_DIR/release/lampi-agent
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser root\nset_tcp_nodelay true\nmax_connections -1\npersistence false\n' \
    "$port" > "$work/m.conf"
broker() { mosquitto -c "$work/m.conf" >>"$work/m.log" 2>&1 & echo $!; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }
mpid=$(broker)
for _ in $(seq 200); do listening && break; sleep 0.05; done

run=$work/run
"$BIN" -q loadtest --profile evening --rate 0 --devices "$LAMPS" --duration 90s --ramp-up 20s --responder internal \
    --broker "127.0.0.1:$port" --site http://127.0.0.1:9/ --no-preflight --seed 1 --out "$run" >/dev/null 2>"$work/run.err" &
lt=$!
up() { tail -n 2 "$run/connections.csv" 2>/dev/null | awk -F';' -v n="$LAMPS" '$4 == n {k++} END {exit k != 2}'; }
for _ in $(seq 1200); do up && break; sleep 0.1; done
up || { echo "the lamps never all connected"; tail "$work/run.err"; exit 1; }
kill -9 "$mpid"; wait "$mpid" 2>/dev/null || true
killed=$(date +%s.%N)
while listening; do sleep 0.01; done
sleep "$OUTAGE"
restarted=$(date +%s.%N)
mpid=$(broker)
wait "$lt" || { echo "the load run failed"; tail "$work/run.err"; exit 1; }

python3 - "$run" "$LAMPS" "$killed" "$restarted" <<'PY'
import json, sys, datetime
d, lamps, killed, restarted = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
def ts(s): return datetime.datetime.strptime(s, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=datetime.timezone.utc).timestamp()
def rfc(s): return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() if s else None
rows = [l.rstrip("\n").split(";") for l in open(f"{d}/connections.csv") if not l.startswith("#")]
after = [r for r in rows if ts(r[2]) > restarted]
back = next((ts(r[2]) for r in after if int(r[3]) == lamps), None)
storm = [r for r in rows if ts(r[2]) > killed and (back is None or ts(r[2]) <= back + 1)]
s = json.load(open(f"{d}/summary.json"))
o = next((o for o in s["outages"] if o["kind"] == "broker"), {})
g = s["generator"]
p99 = [float(r[8]) for r in storm if r[8]]
print(f"reconnect storm: {lamps} lamps, broker down {restarted - killed:.1f} s (killed, restarted on the same port)")
print(f"  all {lamps} lamps up again {back - restarted:.1f} s after the restart (interval ends, 1 s resolution)" if back
      else f"  NOT all lamps back before the run ended (max after the restart: {max(int(r[3]) for r in after)})")
ans, rec = rfc(o.get("answered")), rfc(o.get("recovered"))
print(f"  summary.json outage: start {o.get('start')}, answered {o.get('answered')}, recovered {o.get('recovered')}: "
      f"time_to_recover_s {o.get('time_to_recover_s')}, back {rec - ans if ans and rec else None} s after the broker answered")
print(f"  connect attempts: {sum(int(r[5]) for r in storm)} in the storm, peak {max(int(r[5]) for r in storm)}/s; "
      f"failed {sum(int(r[6]) for r in storm)} (peak {max(int(r[6]) for r in storm)}/s); "
      f"time to CONNACK p99 up to {max(p99, default=0):.1f} ms per interval")
print(f"  generator: CPU mean {g['cpu_mean_pct']}% max {g['cpu_max_pct']}% of one core, RSS max {g['rss_max_mb']} MB; "
      f"saturated intervals {s['generator_saturated_intervals']}; lamps connected min {s['lamps_connected']['min']} "
      f"max {s['lamps_connected']['max']}")
PY
