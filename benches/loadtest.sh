#!/usr/bin/env bash
# Benchmark of `lampi-agent loadtest` as a load generator (not a test: it prints figures).
#
#   bash benches/loadtest.sh [LAMPS] [RATE] [DURATION]        defaults: 4000 lamps, rate x4, 60s
#
# 1. MQTT capacity: LAMPS virtual lamps (each a lamp connection answering as `lampi-agent run` does, plus an owner
#    connection per app/touchscreen session) against a private mosquitto on a free loopback port, with an MQTT-only
#    variant of the smoke profile (no web sessions, no churn) scaled by RATE. Prints MQTT publishes per second
#    (set_config + lamp/changed, as counted by the generator and by the broker's $SYS), round-trip percentiles,
#    the generator's CPU (of one core) and RSS, and whether it saturated.
# 2. HTTP cost: a web-only profile against the Django test site (gunicorn, 1 worker x 8 threads); prints the
#    generator's CPU time per HTTP request.
# SKIP_HTTP=1 runs the MQTT part only, SKIP_MQTT=1 the HTTP part only.
# Needs: mosquitto, the test venv (bash scripts/setup-test-venv.sh). Builds the release binary without the demo broker
# (into $CARGO_TARGET_DIR, default ~/.cache/lampi-agent/bench-target).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LAMPS=${1:-4000}; RATE=${2:-4}; DURATION=${3:-60s}
export PATH="$PATH:/usr/sbin"
PY=${LAMPI_TEST_PYTHON:-${LAMPI_TEST_VENV:-$HOME/.cache/lampi-agent/venv}/bin/python}
# Its own target dir, as peers.sh and headline.sh: a build without the demo broker never replaces target/release.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/lampi-agent/bench-target}
cargo build --locked --release --no-default-features --features gpio -q
BIN=$CARGO_TARGET_DIR/release/lampi-agent  # where cargo just built it
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
profile() { # $1 = out file, then sed expressions
    local out=$1; shift; cp config/profiles/smoke.toml "$out"
    for e in "$@"; do sed -i "$e" "$out"; done
    "$BIN" loadtest --profile "$out" --dry-run --devices 1 >/dev/null  # the variant must still be a valid profile
}

# --- 1. MQTT ---
if [[ -z "${SKIP_MQTT:-}" ]]; then
port=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser root\nset_tcp_nodelay true\nsys_interval 5\nmax_connections -1\nmax_queued_messages 10000\n' "$port" > "$work/m.conf"
mosquitto -c "$work/m.conf" >"$work/m.log" 2>&1 &
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
profile "$work/mqtt.toml" 's/^web = 0.5/web = 0/' 's/^app = 0.25/app = 0.5/' 's/^lamp_ui = 0.25/lamp_ui = 0.5/' 's/^per_hour = 180/per_hour = 0/'
"$BIN" -q loadtest --profile "$work/mqtt.toml" --devices "$LAMPS" --rate "$RATE" --duration "$DURATION" --ramp-up 10s \
    --broker "127.0.0.1:$port" --no-preflight --broker-sys --seed 1 --out "$work/mqtt" >/dev/null 2>"$work/mqtt.err" || { tail "$work/mqtt.err"; exit 1; }
python3 - "$work/mqtt" "$LAMPS" <<'PY'
import json, sys, csv
d, lamps = sys.argv[1], sys.argv[2]
s = json.load(open(f"{d}/summary.json")); r = s["results"]; el = r["elapsed_s"]
ops = {(o["kind"], o["name"]): o for o in r["ops"]}
pub = ops.get(("MQTT","publish set_config"), {}).get("count", 0); chg = ops.get(("MQTT","publish changed"), {}).get("count", 0)
rt = ops.get(("MQTT","roundtrip"), {}); lat = rt.get("latency_ms") or {}
# The responders' lamp/changed answers are publishes too: one per set_config.
sent = pub * 2 + chg
rows = [l.split(";") for l in open(f"{d}/broker.csv") if not l.startswith("#")]
peak = max((float(x[4]) for x in rows if len(x) > 4 and x[4]), default=0.0)
g = s["generator"]
print(f"MQTT: {lamps} lamps, {el:.0f} s: {sent/el:,.0f} publishes/s from the generator "
      f"(set_config {pub/el:,.0f}/s + answers + touchscreen {chg/el:,.0f}/s); broker $SYS: up to {peak/60:,.0f} MQTT packets/s received (1-min average, all packet types)")
print(f"  round trip ms: p50 {lat.get('p50')}  p90 {lat.get('p90')}  p99 {lat.get('p99')}  max {lat.get('max')}; "
      f"failures {r['aggregated']['failures']} of {r['aggregated']['count']}; late starts p99 {(r['aggregated'].get('lateness_ms') or {}).get('p99')} ms; "
      f"not started {s['not_started']} of {s['dispatched']}")
print(f"  generator: CPU mean {g['cpu_mean_pct']}% max {g['cpu_max_pct']}% of one core; RSS max {g['rss_max_mb']} MB; "
      f"saturated intervals {s['generator_saturated_intervals']}")
# Derived here, never by hand: the generator's CPU seconds over the run divided by what it published.
cpu_s = g['cpu_mean_pct'] / 100 * el
print(f"  generator CPU per publish: {cpu_s * 1e6 / max(sent, 1):,.1f} us "
      f"({cpu_s:.2f} CPU-s / {sent:,} publishes incl. the responders' answers)")
PY
kill %1 2>/dev/null || true
fi

[[ -n "${SKIP_HTTP:-}" ]] && exit 0
# --- 2. HTTP ---
export LAMPI_SITE_DB=$work/site.sqlite3 PYTHONDONTWRITEBYTECODE=1
"$PY" tests/django_site/manage.py migrate -v0 && "$PY" tests/django_site/manage.py create_lampi_users --count 200 >/dev/null
hport=$(free_port)
(cd tests/django_site && exec "$PY" -m gunicorn --bind "127.0.0.1:$hport" --workers 1 --worker-class gthread --threads 8 --no-control-socket lampi_site.wsgi:application) >"$work/g.log" 2>&1 &
for _ in $(seq 200); do curl -sf -o /dev/null "http://127.0.0.1:$hport/login/" && break; sleep 0.05; done
port2=$(free_port); printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser root\n' "$port2" > "$work/m2.conf"
mosquitto -c "$work/m2.conf" >/dev/null 2>&1 &
# Web sessions that only browse (login, then list and detail pages), so the CPU is the HTTP client's.
profile "$work/web.toml" 's/^web = 0.5/web = 1/' 's/^app = 0.25/app = 0/' 's/^lamp_ui = 0.25/lamp_ui = 0/' 's/^per_hour = 180/per_hour = 0/' \
    '/^\[chain.web\]/,/^\[chain.app\]/s/^detail = .*/detail = { list = 0.9, end = 0.1 }/'
bash -c "'$BIN' -q loadtest --profile '$work/web.toml' --devices 100 --first-lamp 1 --duration 20s --broker 127.0.0.1:$port2 \
    --site http://127.0.0.1:$hport --seed 2 --out '$work/web' > /dev/null 2>'$work/web.err'; times" > "$work/times" 2>&1 || { tail "$work/web.err"; exit 1; }
python3 - "$work/web" "$work/times" <<'PY'
import json, sys, re
s = json.load(open(f"{sys.argv[1]}/summary.json")); r = s["results"]
http = sum(o["count"] for o in r["ops"] if o["kind"] in ("GET", "POST"))
t = open(sys.argv[2]).read().split("\n")[1]  # second line of `times`: children user, sys
def secs(x):
    m, s_ = re.match(r"(\d+)m([\d.]+)s", x).groups(); return int(m) * 60 + float(s_)
u, sy = [secs(x) for x in t.split()]
print(f"HTTP: {http} requests in {r['elapsed_s']:.0f} s against the Django test site ({http / r['elapsed_s']:.0f}/s); "
      f"generator CPU {(u + sy) * 1e3 / max(http, 1):.3f} ms per request (user {u:.2f} s + sys {sy:.2f} s, whole process)")
agg = r["aggregated"]; print(f"  failures {agg['failures']}; latency p50 {agg['latency_ms']['p50']} ms p99 {agg['latency_ms']['p99']} ms")
PY
