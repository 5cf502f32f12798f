#!/usr/bin/env bash
# Benchmark: `lampi-agent loadtest` side by side with its peers (issue 11), in one invocation, against ONE Django
# test site (gunicorn) and ONE mosquitto (set_tcp_nodelay true), both on free 127.0.0.1 ports. Not a test: it
# prints figures, every derived one computed here.
#
#   bash benches/peers.sh [--duration SECONDS]          default 20 s per workload (or PEERS_DURATION=SECONDS)
#                         [--only http|mqtt]            run one group of workloads only (default: both)
#                         [--no-pin]                    by default every generator runs on CPU 0 and the site and
#                                                       the broker on CPU 1 (taskset), the same for every tool:
#                                                       shared, the scheduler moving the busy processes across the
#                                                       cores moved lampi-agent's MQTT figure by half between runs
#                         [--repeat N]                  N rounds of every workload, one after the other in the same
#                                                       order against the same site and broker, each round's table
#                                                       printed, then each ratio's median and range over the rounds
#                                                       (the host's speed moves the peers' figures between runs too)
#                         [--http-think P0,P50,P100]    lampi-agent's funnel think time in seconds (default 0.5,1.0,1.5,
#                                                       as Locust's between(0.5, 1.5)); e.g. 0.001,0.001,0.001 shows
#                                                       its CPU per request when the site, not the think time, sets
#                                                       the pace (Locust keeps its 0.5-1.5 s: compare with wrk then)
#
# Workloads (each ~DURATION, one after the other, same site and broker):
#   HTTP  lampi-agent loadtest  ~50 web sessions: login (CSRF form), then /, /lampi/, /lampi/device/<id> at
#                               100:80:75, think 0.5-1.5 s (a profile written into the temp dir); then the same run
#                               without sessions (what the requests cost beyond the run itself: printed below the table)
#         Locust FastHttpUser   the same funnel, 50 users, headless, --csv (locustfile written into the temp dir)
#         wrk                   GET /login/, 20 connections, 2 threads
#         tokio + hyper alone   benches/http_floor.rs: lampi-agent's runtime and HTTP client and nothing else, 50
#                               kept-alive sessions GETting /login/ after 0.5-1.5 s think time (the stack's floor)
#         mio + httparse alone  benches/http_floor.rs --stack mio: the cheapest client there is (one thread, one
#                               epoll set, no runtime, nothing allocated per request), the same sessions and think
#                               time (the host's floor for a generator whose users think)
#         ... busy              both again with 20 sessions and no think time, as wrk's 20 connections: what the
#                               same clients cost when the process never sleeps
#   MQTT  lampi-agent loadtest  1000 virtual lamps, app + touchscreen drags of 10 QoS 1 messages, 1-2 s apart,
#                               internal responders (every set_config answered and its round trip timed)
#         Locust MqttUser       locust.contrib.mqtt (shipped by Locust 2.47, extra `mqtt` = paho-mqtt): 1000 users,
#                               bursts of 10 QoS 1 publishes 1-2 s apart
#         mosquitto_pub         20,000 set_config lines over one connection (-l), QoS 1 and QoS 0; the count is what
#                               a subscriber received
# CPU per operation = user+system CPU of the generator process and all its descendants (getrusage of the reaped
# children, measured by a wrapper) / the operations it completed, from the tool's own output (summary.json,
# Locust's _stats.csv, wrk's "requests in", the subscriber's count for mosquitto_pub). Under the table, each HTTP
# row's CPU per request split into user and system time, and its sleeps per request (voluntary context switches:
# waits that ended in a wake-up), which is where a generator whose users think differs from a busy loop.
#
# PEERS_BIN=PATH runs that lampi-agent binary instead of building one (A/B runs of two builds).
# Sets up its peers: Locust 2.47.0 (+ paho-mqtt) from PyPI into $PEERS_VENV (default ~/.cache/lampi-agent/bench-venv),
# wrk and mosquitto-clients from Debian via apt-get when missing. Needs mosquitto and the test venv
# (bash scripts/setup-test-venv.sh). Builds the release binary into $CARGO_TARGET_DIR (default
# ~/.cache/lampi-agent/bench-target). Writes only into a temp dir (removed at exit) and those caches.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${PEERS_DURATION:-20}
ONLY=all
REPEAT=1
THINK=0.5,1.0,1.5
PIN=1
while [[ $# -gt 0 ]]; do
    case $1 in
        --duration) DURATION=${2:?--duration needs seconds}; shift 2 ;;
        --duration=*) DURATION=${1#*=}; shift ;;
        --only) ONLY=${2:?--only needs http or mqtt}; shift 2 ;;
        --only=*) ONLY=${1#*=}; shift ;;
        --no-pin) PIN=; shift ;;
        --repeat) REPEAT=${2:?--repeat needs a count}; shift 2 ;;
        --repeat=*) REPEAT=${1#*=}; shift ;;
        --http-think) THINK=${2:?--http-think needs P0,P50,P100}; shift 2 ;;
        --http-think=*) THINK=${1#*=}; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d'; exit 0 ;;
        *) echo "peers.sh: unknown argument '$1' (see --help)" >&2; exit 64 ;;
    esac
done
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || { echo "peers.sh: --repeat '$REPEAT' is not a whole number of rounds" >&2; exit 64; }
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || { echo "peers.sh: --duration '$DURATION' is not a whole number of seconds" >&2; exit 64; }
[[ $ONLY =~ ^(all|http|mqtt)$ ]] || { echo "peers.sh: --only '$ONLY' is not http or mqtt" >&2; exit 64; }
[[ $THINK =~ ^[0-9.]+,[0-9.]+,[0-9.]+$ ]] || { echo "peers.sh: --http-think '$THINK' is not P0,P50,P100 in seconds" >&2; exit 64; }
IFS=, read -r THINK0 THINK50 THINK100 <<< "$THINK"
group() { [[ $ONLY == all || $ONLY == "$1" ]]; }  # whether the workloads of group $1 run
export PATH="$PATH:/usr/sbin"
PY=${LAMPI_TEST_PYTHON:-${LAMPI_TEST_VENV:-$HOME/.cache/lampi-agent/venv}/bin/python}
VENV=${PEERS_VENV:-$HOME/.cache/lampi-agent/bench-venv}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/lampi-agent/bench-target}
LOCUST_VERSION=2.47.0
HTTP_USERS=50 MQTT_LAMPS=1000 PUB_COUNT=20000

work=$(mktemp -d -t lampi-peers.XXXXXX)
cleanup() { local p; for p in $(jobs -p); do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$work/res"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
note() { printf '%s\n' "$2" > "$work/res/$1.skip"; echo "peers.sh: $1: $2" >&2; }  # why a row has no figure
pin0=(); pin1=()  # taskset execs the program: the generators' rusage and the servers' pids stay theirs
if [[ -n $PIN && $(nproc) -ge 2 ]] && command -v taskset >/dev/null; then pin0=(taskset -c 0); pin1=(taskset -c 1); else PIN=; fi
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs); $(date -u +%FT%TZ)${PIN:+; pinned: every generator on CPU 0, the site and the broker on CPU 1}"

# --- peers: install what is missing ---
apt_missing=()
command -v wrk >/dev/null || apt_missing+=(wrk)
command -v mosquitto_pub >/dev/null || apt_missing+=(mosquitto-clients)
if [[ ${#apt_missing[@]} -gt 0 ]]; then
    echo "installing from Debian: ${apt_missing[*]}" >&2
    sudo=; [[ $(id -u) -eq 0 ]] || sudo=sudo
    { $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${apt_missing[@]}"; } >"$work/apt.log" 2>&1 \
        || { echo "apt-get install ${apt_missing[*]} failed:" >&2; tail -5 "$work/apt.log" >&2; }
fi
if ! "$VENV/bin/python" -c "import locust, paho.mqtt; assert locust.__version__ == '$LOCUST_VERSION'" 2>/dev/null; then
    echo "installing locust[mqtt]==$LOCUST_VERSION into $VENV" >&2
    { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q "locust[mqtt]==$LOCUST_VERSION"; } >"$work/pip.log" 2>&1 \
        || { echo "pip install locust failed:" >&2; tail -5 "$work/pip.log" >&2; }
fi
have_locust=1; "$VENV/bin/python" -c "import locust.contrib.mqtt" 2>/dev/null || have_locust=
if [[ -n ${PEERS_BIN:-} ]]; then  # another build of lampi-agent, e.g. to compare two designs in runs side by side
    BIN=$PEERS_BIN BUILT="$PEERS_BIN, as given by PEERS_BIN"
else
    (cd "$ROOT" && cargo build --locked --release --no-default-features --features gpio -q)
    BIN=$CARGO_TARGET_DIR/release/lampi-agent BUILT="release, --no-default-features --features gpio"
fi
# The HTTP floors (benches/http_floor.rs): lampi-agent's runtime and client alone, and the cheapest client there is.
FLOOR=
if group http; then
    FLOOR=$(cd "$ROOT" && cargo bench --locked --no-default-features --features gpio --bench http_floor --no-run \
        --message-format=json 2>"$work/floor-build.log" | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "http_floor" and m.get("executable"):
        print(m["executable"])') || true
fi
versions() {
    echo "lampi-agent: $("$BIN" --version 2>&1 | head -1) ($BUILT)"
    [[ -n $have_locust ]] && echo "locust: $("$VENV/bin/locust" --version 2>&1 | head -1); paho-mqtt $("$VENV/bin/python" -c 'import paho.mqtt; print(paho.mqtt.__version__)')"
    command -v wrk >/dev/null && echo "wrk: $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
    command -v mosquitto_pub >/dev/null && echo "mosquitto_pub: $(mosquitto_pub --help 2>&1 | sed -n 2p)"
    echo "mosquitto: $(mosquitto -h 2>&1 | head -1)"
}
versions

# Runs a generator, then writes its user/system CPU (it and every descendant it reaped), wall time and exit code.
# The figures are the difference across the call: what this Python inherited (a launcher such as a pyenv shim runs
# and reaps its own children before it becomes Python, and exec keeps their CPU in RUSAGE_CHILDREN: ~50 ms here)
# is not the generator's.
cat > "$work/cpu.py" <<'PY'
import json, resource, subprocess, sys, time
before = resource.getrusage(resource.RUSAGE_CHILDREN)
t0 = time.monotonic(); rc = subprocess.call(sys.argv[2:]); wall = time.monotonic() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
json.dump({"user": ru.ru_utime - before.ru_utime, "sys": ru.ru_stime - before.ru_stime, "wall": wall, "rc": rc,
           "sleeps": ru.ru_nvcsw - before.ru_nvcsw},  # voluntary context switches: each a wait that ended in a wake-up
          open(sys.argv[1], "w"))
PY
cpu_run() { local key=$1; shift; python3 "$work/cpu.py" "$work/res/$key.cpu.json" "${pin0[@]}" "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
await_tcp() { # $1 port, $2 what: until it accepts, at most 20 s
    for _ in $(seq 400); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done
    echo "peers.sh: $2 on 127.0.0.1:$1 never accepted a connection" >&2; exit 1
}

# --- the one site and the one broker ---
export LAMPI_SITE_DB=$work/site.sqlite3 PYTHONDONTWRITEBYTECODE=1
"$PY" "$ROOT/tests/django_site/manage.py" migrate -v0
"$PY" "$ROOT/tests/django_site/manage.py" create_lampi_users --count $((HTTP_USERS + 10)) >/dev/null
hport=$(free_port)
(cd "$ROOT/tests/django_site" && exec "${pin1[@]}" "$PY" -m gunicorn --bind "127.0.0.1:$hport" --workers 1 --worker-class gthread --threads 8 \
    --no-control-socket lampi_site.wsgi:application) >"$work/gunicorn.log" 2>&1 &
for _ in $(seq 400); do curl -sf -o /dev/null "http://127.0.0.1:$hport/login/" && break; sleep 0.05; done
curl -sf -o /dev/null "http://127.0.0.1:$hport/login/" || { echo "peers.sh: the Django site never answered /login/" >&2; tail "$work/gunicorn.log" >&2; exit 1; }
mport=$(free_port)
{ printf 'listener %s 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\nmax_connections -1\n' "$mport"
  printf 'max_queued_messages 10000\npersistence false\n'; [[ $(id -u) -eq 0 ]] && printf 'user root\n'; } > "$work/mosquitto.conf"
"${pin1[@]}" mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
await_tcp "$mport" mosquitto
echo "site http://127.0.0.1:$hport (gunicorn 1 worker x 8 threads, SQLite), broker 127.0.0.1:$mport (mosquitto, set_tcp_nodelay true)"

# --- lampi-agent profiles: one session per lamp (on average) arriving in the first profile hour, which --speed 1800
# makes 2 s of wall time; no arrivals after it; sessions end with probability 0.001 per step, so they last the run.
profile() { # $1 file, $2 name, $3 share, $4 chains, $5 think, $6 drag
    { printf 'name = "%s"\ndescription = "benches/peers.sh workload"\nwindow = [0, 24]\ntz_offset = "+00:00"\nmax_actions = 10000\n' "$2"
      printf '[arrivals]\n0 = 1\n'; for h in $(seq 1 23); do printf '%s = 0\n' "$h"; done
      printf '[share]\n%s\n%s\n[think]\n%s\n[drag]\n%s\n' "$3" "$4" "$5" "$6"
      printf '[values]\nhue = { p0 = 0, p100 = 1 }\nsaturation = { p0 = 0, p100 = 1 }\nbrightness = { p0 = 0.1, p100 = 1 }\n'
      printf '[churn]\nper_hour = 0\noffline = { p0 = 0.2, p100 = 1 }\n'; } > "$1"
}
drags='start = { hue = 0.5, brightness = 0.5 }
hue = { hue = 0.5, brightness = 0.499, end = 0.001 }
brightness = { hue = 0.5, brightness = 0.499, end = 0.001 }'
owners="[chain.app]
$drags
[chain.lamp_ui]
$drags"
profile "$work/web.toml" peers-web 'web = 1
app = 0
lamp_ui = 0' "[chain.web]
start = { login = 1 }
login = { root = 0.392157, list = 0.313725, detail = 0.294118 }
root = { root = 0.3918, list = 0.3134, detail = 0.2938, end = 0.001 }
list = { root = 0.3918, list = 0.3134, detail = 0.2938, end = 0.001 }
detail = { root = 0.3918, list = 0.3134, detail = 0.2938, end = 0.001 }
$owners" "page = { p0 = $THINK0, p50 = $THINK50, p100 = $THINK100 }
control = { p0 = 0.5, p50 = 1.0, p100 = 1.5 }" 'interval = "100ms"
length = { p0 = 1, p100 = 1 }'
profile "$work/mqtt.toml" peers-mqtt 'web = 0
app = 0.5
lamp_ui = 0.5' "[chain.web]
start = { login = 1 }
login = { list = 1 }
list = { end = 1 }
$owners" 'page = { p0 = 1, p50 = 1.5, p100 = 2 }
control = { p0 = 1, p50 = 1.5, p100 = 2 }' 'interval = "10ms"
length = { p0 = 10, p100 = 10 }'
lampi() { # $1 key, $2 profile, $3 lamps, $4 seed, then extra flags; dry run first (the profile must be valid), then the run
    local key=$1 prof=$2 n=$3 seed=$4; shift 4
    local args=(loadtest --profile "$prof" --devices "$n" --duration "${DURATION}s" --speed 1800 --seed "$seed"
        --broker "127.0.0.1:$mport" "$@")
    "$BIN" -q "${args[@]}" --dry-run > "$work/res/$key.dry.txt"
    cpu_run "$key" "$BIN" -q "${args[@]}" --out "$work/$key" >"$work/$key.log" 2>&1 || true
    cp "$work/$key/summary.json" "$work/res/$key.summary.json" 2>/dev/null || { note "$key" "lampi-agent wrote no summary.json: $(tail -1 "$work/$key.log")"; }
}

locust_run() { # $1 key, $2 locustfile, $3 users, $4 spawn rate, then extra flags
    local key=$1 file=$2 users=$3 rate=$4; shift 4
    echo "running: Locust $key (${DURATION} s)" >&2
    cpu_run "$key" "$VENV/bin/locust" -f "$file" --headless -u "$users" -r "$rate" -t "${DURATION}s" --csv "$work/$key" \
        --only-summary --loglevel WARNING --exit-code-on-error 0 --stop-timeout 2 "$@" >"$work/$key.log" 2>&1 || true
    cp "$work/${key}_stats.csv" "$work/res/$key.stats.csv" 2>/dev/null || note "$key" "Locust wrote no _stats.csv: $(tail -1 "$work/$key.log")"
}

# One round: every workload once, then its table. Its ratios are appended to $work/rounds.jsonl.
one_round() {
local round=$1
rm -rf "$work/res" "$work"/lampi_http "$work"/lampi_idle "$work"/lampi_mqtt "$work"/*.done; mkdir -p "$work/res"
[[ $REPEAT -gt 1 ]] && echo "--- round $round of $REPEAT ($(date -u +%T), load $(cut -d' ' -f1-3 /proc/loadavg)) ---"
# --- HTTP ---
if group http; then
echo "running: lampi-agent HTTP funnel (${DURATION} s)" >&2
lampi lampi_http "$work/web.toml" $HTTP_USERS 9 --first-lamp 0 --site "http://127.0.0.1:$hport"
# The same run without its sessions (the first hour's arrivals 1e-5: none happens), to show what the requests cost
# beyond the run itself (start-up, the 50 lamp connections, the recorder's files each second).
sed 's/^0 = 1$/0 = 0.00001/' "$work/web.toml" > "$work/idle.toml"
echo "running: lampi-agent HTTP funnel without sessions (${DURATION} s)" >&2
lampi lampi_idle "$work/idle.toml" $HTTP_USERS 9 --first-lamp 0 --site "http://127.0.0.1:$hport"
for key in floor floor_mio floor_busy floor_mio_busy; do
    if [[ -z $FLOOR ]]; then note $key "benches/http_floor.rs did not build: $(tail -1 "$work/floor-build.log")"; continue; fi
    flags=(); n=$HTTP_USERS
    [[ $key == *mio* ]] && flags+=(--stack mio)
    [[ $key == *busy ]] && { flags+=(--think 0,0); n=20; }
    echo "running: benches/http_floor.rs ${flags[*]} (${DURATION} s)" >&2
    cpu_run $key "$FLOOR" "${flags[@]}" "127.0.0.1:$hport" "$DURATION" $n /login/ > "$work/res/$key.txt" 2>&1 || true
done

cat > "$work/locust_http.py" <<'PY'
# The funnel as a browser does it: GET the login form, POST it with its CSRF token (cookies kept per user), then the
# three pages at 100:80:75 with 0.5-1.5 s think time. User i is user_{i:06} (password reversed), owning one lamp.
import itertools, re, urllib.parse
from locust import FastHttpUser, between, task

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
ids = itertools.count()


class Funnel(FastHttpUser):
    wait_time = between(0.5, 1.5)

    def on_start(self):
        i = next(ids)
        self.device = format(0x1E0000000000 + i, "x")
        user = f"user_{i:06d}"
        with self.client.get("/login/", name="/login/", catch_response=True) as r:
            m = CSRF.search(r.text or "")
            if not m:
                r.failure("no csrfmiddlewaretoken in the login form")
                return
        body = urllib.parse.urlencode({"username": user, "password": user[::-1], "csrfmiddlewaretoken": m.group(1), "next": "/"})
        with self.client.post("/login/", data=body, headers=FORM, name="/login/", allow_redirects=False, catch_response=True) as r:
            if r.status_code != 302:
                r.failure(f"login refused: HTTP {r.status_code}")

    @task(100)
    def home(self):
        self.client.get("/", name="/")

    @task(80)
    def lamps(self):
        self.client.get("/lampi/", name="/lampi/")

    @task(75)
    def lamp(self):
        self.client.get(f"/lampi/device/{self.device}", name="/lampi/device/<id>")
PY
if [[ -n $have_locust ]]; then
    locust_run locust_http "$work/locust_http.py" $HTTP_USERS $HTTP_USERS --host "http://127.0.0.1:$hport"
else
    note locust_http "Locust $LOCUST_VERSION with locust.contrib.mqtt is not importable from $VENV (pip install failed)"
fi

if command -v wrk >/dev/null; then
    echo "running: wrk (${DURATION} s)" >&2
    cpu_run wrk wrk -t2 -c20 "-d${DURATION}s" "http://127.0.0.1:$hport/login/" > "$work/res/wrk.txt" 2>&1 || true
else
    note wrk "wrk is not installed and apt-get install wrk failed"
fi

else
    for k in lampi_http lampi_idle floor floor_mio floor_busy floor_mio_busy locust_http wrk; do note "$k" "not run (--only $ONLY)"; done
fi

# --- MQTT ---
if group mqtt; then
echo "running: lampi-agent MQTT fleet (${DURATION} s)" >&2
lampi lampi_mqtt "$work/mqtt.toml" $MQTT_LAMPS 11 --responder internal --no-preflight

cat > "$work/locust_mqtt.py" <<PY
# 1000 lamps' owners: each connects, then every 1-2 s sends a burst of 10 QoS 1 set_config publishes (a drag) to its
# own lamp's topic; Locust's MqttClient times each publish to its PUBACK. Selector loop: more than 340 sockets.
import itertools, json, random, time
import gevent
from locust import between, task
from locust.contrib.mqtt import MqttClient, MqttUser

ids = itertools.count()


class OneName(MqttClient):
    # One statistics row for all lamps' topics (Locust would keep one per topic: 1000 rows written every second).
    def _generate_event_name(self, event_type, qos, topic):
        return f"{event_type}:{qos}:devices/+/lamp/set_config"


class Lamp(MqttUser):
    host = "127.0.0.1"
    port = $mport
    client_cls = OneName
    use_loop_selectors = True
    wait_time = between(1, 2)

    def on_start(self):
        self.topic = "devices/%x/lamp/set_config" % (0x1E0000000000 + next(ids))
        deadline = time.time() + 30
        while not self.client.is_connected() and time.time() < deadline:
            gevent.sleep(0.05)

    @task
    def drag(self):
        for _ in range(10):
            msg = {"color": {"h": round(random.random(), 2), "s": 1.0}, "client": self.client.client_id}
            self.client.publish(self.topic, payload=json.dumps(msg), qos=1)
PY
if [[ -n $have_locust ]]; then
    locust_run locust_mqtt "$work/locust_mqtt.py" $MQTT_LAMPS 500
else
    note locust_mqtt "Locust $LOCUST_VERSION with locust.contrib.mqtt is not importable from $VENV (pip install failed)"
fi

# mosquitto_pub: the lines are written first (not timed); a paho subscriber counts what the broker delivered.
cat > "$work/count.py" <<'PY'
# Counts the messages the broker forwards on one topic: prints "subscribed" once its SUBACK came, then the count,
# when all arrived or, once the file argv[4] exists (the publisher is done), when nothing new came for 2 s. It
# subscribes at QoS 0 so that its own ack window and the broker's per-client queue limit cannot drop any.
import os, sys, threading, time, paho.mqtt.client as mqtt
port, topic, want, done_file = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
got, all_in = 0, threading.Event()
def on_connect(c, u, f, rc, p=None): c.subscribe(topic, 0)
def on_subscribe(c, u, mid, rcs, p=None): print("subscribed", flush=True)
def on_message(c, u, m):
    global got
    got += 1
    if got >= want: all_in.set()
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"peers-count-{os.getpid()}")
c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
c.connect("127.0.0.1", port); c.loop_start()
prev = -1
while not all_in.wait(2):
    if os.path.exists(done_file):
        if got == prev: break
        prev = got
print(got, flush=True)
PY
if command -v mosquitto_pub >/dev/null && [[ -n $have_locust ]]; then
    python3 -c "
import random
random.seed(7)
for i in range($PUB_COUNT):
    print('{\"color\": {\"h\": %.2f, \"s\": 1.0}, \"brightness\": %.2f, \"on\": true, \"client\": \"mosquitto_pub\"}' % (random.random(), random.random()))
" > "$work/lines.txt"
    for q in 1 0; do
        key=mosquitto_pub_q$q topic="devices/1e00000000f$q/lamp/set_config"
        echo "running: mosquitto_pub QoS $q ($PUB_COUNT messages)" >&2
        "${pin1[@]}" "$VENV/bin/python" "$work/count.py" "$mport" "$topic" "$PUB_COUNT" "$work/$key.done" > "$work/$key.count.out" 2>&1 &
        counter=$!
        for _ in $(seq 400); do grep -q subscribed "$work/$key.count.out" && break; sleep 0.05; done
        grep -q subscribed "$work/$key.count.out" || { note "$key" "the counting subscriber got no SUBACK"; kill "$counter"; continue; }
        cpu_run "$key" mosquitto_pub -h 127.0.0.1 -p "$mport" -t "$topic" -q "$q" -l --nodelay < "$work/lines.txt" || true
        touch "$work/$key.done"; wait "$counter" || true
        n=$(tail -1 "$work/$key.count.out")
        if [[ $n =~ ^[0-9]+$ ]]; then echo "$n" > "$work/res/$key.count"; else note "$key" "the counting subscriber gave no count: $n"; fi
    done
else
    for q in 1 0; do note "mosquitto_pub_q$q" "mosquitto_pub (or paho-mqtt for the counting subscriber) is not installed"; done
fi

else
    for k in lampi_mqtt locust_mqtt mosquitto_pub_q1 mosquitto_pub_q0; do note "$k" "not run (--only $ONLY)"; done
fi

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$work/res" "$DURATION" "$HTTP_USERS" "$MQTT_LAMPS" "$PUB_COUNT" "$THINK" "$work/rounds.jsonl" <<'PY'
import csv, json, os, re, sys
res, dur, http_users, lamps, pub_count = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
think = sys.argv[6].split(",")
ratios = {}  # "what: peer" -> lampi-agent's CPU per operation / the peer's, this round
def path(n): return os.path.join(res, n)
def cpu(key):
    c = json.load(open(path(f"{key}.cpu.json"))); return c["user"] + c["sys"], c
def skip(key):
    return open(path(f"{key}.skip")).read().strip() if os.path.exists(path(f"{key}.skip")) else None
rows = []  # (group, tool, work, ops, seconds, failures, cpu_s, note)
drag_cpu = []  # lampi-agent's MQTT CPU per drag message (set_config or touchscreen change), its answers not counted
split = {}  # (group, tool) -> (user s, system s, sleeps): where the CPU went
def row(group, tool, work, key, fn):
    why = skip(key)
    if why is None:
        try:
            rows.append((group, tool, work) + fn(key))
            c = json.load(open(path(f"{key}.cpu.json"))); split[(group, tool)] = (c["user"], c["sys"], c.get("sleeps"))
            return
        except Exception as e: why = f"no figure: {type(e).__name__}: {e}"
    rows.append((group, tool, work, None, None, None, None, why))

def lampi_summary(key):
    s = json.load(open(path(f"{key}.summary.json"))); r = s["results"]; return s, r, {(o["kind"], o["name"]): o for o in r["ops"]}
def sessions(key):
    m = re.search(r"sessions\s+(\d+)", open(path(f"{key}.dry.txt")).read()); return m.group(1) if m else "?"
def lampi_http(key):
    s, r, ops = lampi_summary(key)
    n = sum(o["count"] for o in r["ops"] if o["kind"] in ("GET", "POST"))
    f = sum(o.get("failures", 0) for o in r["ops"] if o["kind"] in ("GET", "POST"))
    c, info = cpu(key); return n, r["elapsed_s"], f, c, f"{sessions(key)} sessions scheduled; CPU includes {http_users} idle lamp connections"
def lampi_mqtt(key):
    s, r, ops = lampi_summary(key)
    pub = ops.get(("MQTT", "publish set_config"), {}); chg = ops.get(("MQTT", "publish changed"), {}); rt = ops.get(("MQTT", "roundtrip"), {})
    # The generator's publishes: set_config (owners), one lamp/changed answer per set_config (its responders) and the
    # touchscreen's lamp/changed; each is QoS 1 and acknowledged; every set_config's round trip is timed too.
    n = 2 * pub.get("count", 0) + chg.get("count", 0)
    f = pub.get("failures", 0) + chg.get("failures", 0) + rt.get("failures", 0)
    c, info = cpu(key)
    msgs = pub.get("count", 0) + chg.get("count", 0)
    drag_cpu.append(c / max(msgs, 1))
    return n, r["elapsed_s"], f, c, (f"{sessions(key)} sessions; {msgs:,} drag messages ({c*1e6/max(msgs,1):,.1f} us CPU each), "
        f"{rt.get('count', 0):,} round trips timed, p99 {(rt.get('latency_ms') or {}).get('p99', 0):,.1f} ms")
def locust(key, keep):
    rs = [r for r in csv.DictReader(open(path(f"{key}.stats.csv"))) if r["Name"] != "Aggregated"]
    agg = next(r for r in csv.DictReader(open(path(f"{key}.stats.csv"))) if r["Name"] == "Aggregated")
    mine = [r for r in rs if keep(r["Name"])]
    n = sum(int(r["Request Count"]) for r in mine); f = sum(int(r["Failure Count"]) for r in mine)
    c, info = cpu(key)
    return n, float(dur), f, c, f"Aggregated row: {int(agg['Request Count']):,} requests, {int(agg['Failure Count']):,} failures"
def wrk(key):
    t = open(path("wrk.txt")).read()
    m = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", t)
    secs = float(m.group(2)) * {"ms": 1e-3, "s": 1, "m": 60}[m.group(3)]
    e = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
    n5 = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    f = (sum(map(int, e.groups())) if e else 0) + (int(n5.group(1)) if n5 else 0)
    c, info = cpu(key); return int(m.group(1)), secs, f, c, "2 threads"
def floor(key):
    m = re.search(r"requests (\d+) failures (\d+)", open(path(f"{key}.txt")).read())
    stack = "one thread, mio + httparse, no runtime" if "mio" in key else "tokio (one worker) + hyper http1 only"
    c, info = cpu(key); return int(m.group(1)), float(dur), int(m.group(2)), c, f"benches/http_floor.rs: {stack}"
def mpub(key):
    got = int(open(path(f"{key}.count")).read()); c, info = cpu(key)
    return got, info["wall"], pub_count - got, c, f"exit code {info['rc']}; counted by a subscriber; wall {info['wall']:.2f} s incl. connect"

row("HTTP", "lampi-agent loadtest", f"funnel, ~{http_users} users" + ("" if think == ["0.5", "1.0", "1.5"] else f", think {think[0]}-{think[2]} s (Locust: 0.5-1.5 s)"), "lampi_http", lampi_http)
row("HTTP", "Locust FastHttpUser", f"funnel, {http_users} users", "locust_http", lambda k: locust(k, lambda n: True))
row("HTTP", "wrk", "GET /login/, 20 connections", "wrk", wrk)
row("HTTP", "tokio + hyper alone", f"GET /login/, {http_users} kept-alive sessions, think 0.5-1.5 s, no cookies, nothing recorded", "floor", floor)
row("HTTP", "mio + httparse alone", f"the same, the cheapest client there is", "floor_mio", floor)
row("HTTP", "tokio + hyper alone, busy", "GET /login/, 20 kept-alive sessions, no think time (as wrk)", "floor_busy", floor)
row("HTTP", "mio + httparse alone, busy", "the same, the cheapest client there is", "floor_mio_busy", floor)
row("MQTT", "lampi-agent loadtest", f"{lamps} lamps, drags of 10, internal responders", "lampi_mqtt", lampi_mqtt)
row("MQTT", "Locust MqttUser", f"{lamps} users, bursts of 10 QoS 1", "locust_mqtt", lambda k: locust(k, lambda n: n.startswith("publish")))
row("MQTT", "mosquitto_pub", f"{pub_count:,} set_config, QoS 1", "mosquitto_pub_q1", mpub)
row("MQTT", "mosquitto_pub", f"{pub_count:,} set_config, QoS 0", "mosquitto_pub_q0", mpub)

per = {}
for g, tool, work, n, secs, f, c, note in rows:
    if n and tool.startswith("lampi-agent"): per[g] = c / n
unit = {"HTTP": "req/s", "MQTT": "msg/s"}
print()
print("| tool | work | operations | throughput | failures | CPU per operation | lampi-agent's CPU per op / this | notes |")
print("|---|---|---|---|---|---|---|---|")
for g, tool, work, n, secs, f, c, note in rows:
    if n is None:
        print(f"| {tool} | {work} | - | - | - | - | - | not measured: {note} |"); continue
    us = c * 1e6 / max(n, 1)
    ratio = "1 (reference)" if tool.startswith("lampi-agent") else (f"{per[g] / (c / n):.2f} x" if g in per and n else "-")
    if g in per and n and not tool.startswith("lampi-agent"): ratios[f"{g}: {tool} ({work})"] = per[g] / (c / n)
    fail = f"{f:,} ({100 * f / max(n + f, 1):.1f} %)" if f else "0"
    print(f"| {tool} | {work} | {n:,} {'requests' if g == 'HTTP' else 'publishes'} | {n / secs:,.0f} {unit[g]} | {fail} | "
          f"{us:,.1f} us ({c:.2f} CPU-s) | {ratio} | {note} |")
http_split = [(t, n, split[(g, t)]) for g, t, w, n, secs, f, c, note in rows if g == "HTTP" and n and (g, t) in split]
if http_split:
    # A generator whose users think sleeps between requests: each wake-up finds cold caches, which shows as user time
    # per request several times a busy loop's; the sleeps column counts the waits that ended in a wake-up.
    print()
    print("| HTTP, per request | user CPU | system CPU | sleeps (voluntary context switches) |")
    print("|---|---|---|---|")
    for t, n, (u, sy, sl) in http_split:
        print(f"| {t} | {u * 1e6 / n:,.1f} us | {sy * 1e6 / n:,.1f} us | {'-' if sl is None else f'{sl / n:.2f}'} |")
idle = None if skip("lampi_idle") else cpu("lampi_idle")[0]
http = [(t, w, n, c) for g, t, w, n, secs, f, c, note in rows if g == "HTTP" and n]
if idle is not None and http and http[0][0].startswith("lampi"):
    _, _, n, c = http[0]
    beyond = (c - idle) / n
    print()
    print(f"lampi-agent's HTTP run without its sessions (the same {http_users} lamps, {dur} s, no request): {idle:.2f} CPU-s; "
          f"the funnel beyond it: {beyond * 1e6:,.1f} us per request, "
          + "; ".join(f"{beyond / (pc / pn):.2f} x {pt}" for pt, pw, pn, pc in http[1:]))
    ratios.update({f"HTTP beyond the run without sessions: {pt} ({pw})": beyond / (pc / pn) for pt, pw, pn, pc in http[1:]})
floor_row = [(n, c) for g, t, w, n, secs, f, c, note in rows if g == "HTTP" and n and t == "tokio + hyper alone"]
if floor_row:
    fn, fc = floor_row[0]
    others = [(t, c / n) for g, t, w, n, secs, f, c, note in rows if g == "HTTP" and n and t in ("Locust FastHttpUser", "wrk")]
    print()
    print(f"The HTTP stack alone (tokio + hyper, no cookies, nothing recorded): {fc * 1e6 / fn:,.1f} us per request, "
          + "; ".join(f"{(fc / fn) / p:.2f} x {t}" for t, p in others))
    ratios.update({f"HTTP stack alone (tokio + hyper): {t}": (fc / fn) / p for t, p in others})
per_req = {t: c / n for g, t, w, n, secs, f, c, note in rows if g == "HTTP" and n}
cheap, busy, loc, wk = (per_req.get(t) for t in ("mio + httparse alone", "mio + httparse alone, busy", "Locust FastHttpUser", "wrk"))
if cheap and busy and loc and wk:
    print()
    print(f"The cheapest client (mio + httparse, one thread, nothing recorded): with the funnel's think time {cheap * 1e6:,.1f} us "
          f"per request, {cheap / loc:.2f} x Locust FastHttpUser and {cheap / wk:.2f} x wrk; busy (no think time) "
          f"{busy * 1e6:,.1f} us, {busy / wk:.2f} x wrk. A request after a think costs this host {(cheap - busy) * 1e6:,.1f} us "
          f"more than one in a loop that never sleeps. Issue 11's funnel goals, <= 0.1 x Locust FastHttpUser and <= 2 x wrk: "
          f"the cheapest client {'meets' if cheap <= 0.1 * loc else 'misses'} the first and {'meets' if cheap <= 2 * wk else 'misses'} the second.")
    ratios.update({"HTTP cheapest client (mio + httparse): Locust FastHttpUser": cheap / loc, "HTTP cheapest client (mio + httparse): wrk": cheap / wk,
                   "HTTP cheapest client busy (mio + httparse): wrk": busy / wk})
if drag_cpu:
    peers = [(f"{t} ({w})", c / n) for g, t, w, n, secs, f, c, note in rows if g == "MQTT" and n and not t.startswith("lampi")]
    print()
    print(f"Counting only the drag messages (not the responders' answers), lampi-agent's MQTT CPU per message is {drag_cpu[0] * 1e6:,.1f} us: "
          + "; ".join(f"{drag_cpu[0] / p:.2f} x {name}" for name, p in peers))
    ratios.update({f"MQTT drag messages only: {name}": drag_cpu[0] / p for name, p in peers})
print()
print("CPU = user + system of the generator process and its descendants over its whole life (start-up and connects included);")
print("ratio < 1: lampi-agent spends less CPU per operation than that peer. lampi-agent MQTT operations = its publishes")
print("(set_config + the responders' answers + touchscreen changes); Locust MqttUser's = its acknowledged publish rows.")
with open(sys.argv[7], "a") as f: f.write(json.dumps(ratios) + "\n")
PY
}

for round in $(seq "$REPEAT"); do one_round "$round"; done
if [[ $REPEAT -gt 1 ]]; then
python3 - "$work/rounds.jsonl" <<'PY'
import json, statistics, sys
rounds = [json.loads(l) for l in open(sys.argv[1])]
names = list(dict.fromkeys(k for r in rounds for k in r))
print()
print(f"Over {len(rounds)} rounds: lampi-agent's CPU per operation / the peer's (each round's figures in its table above)")
print()
print("| ratio to | per round | median | min | max |")
print("|---|---|---|---|---|")
for k in names:
    v = [r[k] for r in rounds if k in r]
    print(f"| {k} | {' / '.join(f'{x:.2f}' for x in v)} | {statistics.median(v):.2f} x | {min(v):.2f} x | {max(v):.2f} x |")
PY
fi
