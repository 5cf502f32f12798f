#!/usr/bin/env bash
# Smoke-test a Pi build of lampi-agent under qemu-user-static on this machine:
#   scripts/cross-check.sh aarch64|armv6|armv7 [BIN]     (BIN defaults to what scripts/cross-build.sh prints)
# Prints what readelf says of BIN (scripts/elf-facts.sh: statically linked, CPU architecture; fails otherwise), then,
# on each emulated CPU of the target, runs `--version`, `config check` and
# `selftest --only config,identity,led,broker,disk --json` against a mosquitto started on a free loopback port, and
# fails unless each exits 0 (selftest: and reports ok). The builds are static, so qemu needs no -L sysroot.
# CPUs (LAMPI_QEMU_CPUS overrides, space-separated):
#   aarch64  cortex-a53              (Pi 3 / Zero 2 W, the oldest 64-bit Pi CPU)
#   armv6    arm1176 cortex-a7       (Pi Zero / 1, then Pi 2: the one ARMv6 binary serves every 32-bit Pi OS)
#   armv7    cortex-a7
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

arch="${1:?usage: cross-check.sh aarch64|armv6|armv7 [BIN]}"
case "$arch" in
    aarch64) qemu=qemu-aarch64-static cpus="cortex-a53" ;;
    armv6) qemu=qemu-arm-static cpus="arm1176 cortex-a7" ;;
    armv7) qemu=qemu-arm-static cpus="cortex-a7" ;;
    *) echo "cross-check: unknown target $arch (aarch64, armv6 or armv7)" >&2; exit 2 ;;
esac
read -ra cpus <<<"${LAMPI_QEMU_CPUS:-$cpus}"
bin="${2:-$(bash scripts/cross-build.sh "$arch")}"
echo "cross-check: $arch $(bash scripts/elf-facts.sh "$arch" "$bin")"

need=()
command -v "$qemu" >/dev/null 2>&1 || need+=(qemu-user-static)
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
    echo "+ $qemu -cpu $cpu $(basename "$bin") $*" >&2
    "$qemu" -cpu "$cpu" "$bin" "$@"
}
# The three runs on one emulated CPU ($cpu); exits the script on the first failure.
check_on() {
    local start
    start=$(date +%s.%N)
    run --version
    run config check "$work/lampi.toml" > "$work/config-check.txt"
    head -1 "$work/config-check.txt"
    run selftest --config "$work/lampi.toml" --only config,identity,led,broker,disk --json --timeout 20s \
        > "$work/selftest.json" || {
        cat "$work/selftest.json" >&2
        echo "cross-check: selftest failed under qemu ($arch, -cpu $cpu)" >&2
        exit 1
    }
    python3 - "$work/selftest.json" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
for c in report["checks"]:
    print(f'  {c["name"]:<9} {c["status"]:<5} {c["detail"]}')
assert report["ok"], "selftest reported not ok"
EOF
    echo "cross-check: $arch OK under $qemu -cpu $cpu in $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s"
}
for cpu in "${cpus[@]}"; do
    check_on
done
echo "cross-check: $arch OK on ${cpus[*]} ($(stat -c %s "$bin") bytes stripped)"
