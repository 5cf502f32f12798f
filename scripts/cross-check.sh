#!/usr/bin/env bash
# Smoke-test a Pi build of lampi-agent under qemu-user-static on this machine:
#   scripts/cross-check.sh aarch64|armv7|armv6 [BIN]     (BIN defaults to what scripts/cross-build.sh prints)
# Runs `--version`, `config check` and `selftest --only config,identity,led,broker,disk --json` against a mosquitto
# started on a free loopback port, and fails unless each exits 0 (selftest: and reports ok).
# aarch64 runs as `qemu-aarch64-static BIN` (no -L: the binary's own loader from libc6:arm64 is used; -L
# /usr/aarch64-linux-gnu mixes two glibc builds and hangs at the first thread). The 32-bit builds use the armhf
# cross runtime: `qemu-arm-static -L /usr/arm-linux-gnueabihf`, with `-cpu arm1176` (the Pi Zero's CPU) for armv6.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

arch="${1:?usage: cross-check.sh aarch64|armv7|armv6 [BIN]}"
bin="${2:-$(bash scripts/cross-build.sh "$arch")}"
case "$arch" in
    aarch64) qemu=(qemu-aarch64-static) ;;
    armv7) qemu=(qemu-arm-static -L /usr/arm-linux-gnueabihf) ;;
    armv6) qemu=(qemu-arm-static -cpu arm1176 -L /usr/arm-linux-gnueabihf) ;;
    *) echo "cross-check: unknown target $arch" >&2; exit 2 ;;
esac
need=()
command -v "${qemu[0]}" >/dev/null 2>&1 || need+=(qemu-user-static)
command -v mosquitto >/dev/null 2>&1 || [[ -x /usr/sbin/mosquitto ]] || need+=(mosquitto)
if ((${#need[@]})); then
    sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
        "${need[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin"

work="$(mktemp -d)"
broker_pid=""
cleanup() {
    [[ -n "$broker_pid" ]] && kill "$broker_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# A free loopback port, then mosquitto on it; ready when it accepts a TCP connection.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" > "$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
broker_pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
done

cat > "$work/lampi.toml" <<EOF
[device]
id = "b827eb08451e"
[mqtt]
host = "127.0.0.1"
port = $port
[led]
backend = "sim"
[state]
dir = "$work/state"
EOF
mkdir -p "$work/state"

run() {
    echo "+ ${qemu[*]} $(basename "$bin") $*" >&2
    "${qemu[@]}" "$bin" "$@"
}
start=$(date +%s.%N)
run --version
run config check "$work/lampi.toml" > "$work/config-check.txt"
head -1 "$work/config-check.txt"
run selftest --config "$work/lampi.toml" --only config,identity,led,broker,disk --json --timeout 20s > "$work/selftest.json" || {
    cat "$work/selftest.json" >&2
    echo "cross-check: selftest failed under qemu ($arch)" >&2
    exit 1
}
python3 - "$work/selftest.json" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
for c in report["checks"]:
    print(f'  {c["name"]:<9} {c["status"]:<5} {c["detail"]}')
assert report["ok"], "selftest reported not ok"
EOF
echo "cross-check: $arch OK under qemu in $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s ($(stat -c %s "$bin") bytes stripped)"
