#!/usr/bin/env bash
# Benchmark: is an armv7 build worth shipping beside the armv6 one? (not a test: it prints figures)
#
#   bash benches/armv6-vs-armv7.sh [RUNS] [EXPORT]    defaults: 5 runs each, ../shared/data/analytics-mixpanel.jsonl
#
# Builds both static 32-bit binaries with scripts/cross-build.sh (armv6: arm-unknown-linux-musleabihf, armv7:
# armv7-unknown-linux-musleabihf), prints their stripped sizes, then times a CPU-bound run of each under
# `qemu-arm-static -cpu cortex-a7` (a Pi 2's CPU, which runs both): `profile derive` of the evening profile from the
# shared analytics sample (parsing, sessionising, SHA-256 of the export). Runs alternate between the two binaries
# so that load from elsewhere on the machine falls on both alike. Prints every run, the medians and the ratios
# armv6/armv7 of the medians and of the fastest runs (above 1: the armv7 build is faster), and fails if the two
# binaries derive different profiles.
# qemu translates ARM code to x86, so the ratio compares the code the two targets generate as qemu runs it; on a
# real Pi 2/3 the gap can differ (measure there before drawing fine conclusions).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${1:-5}"
export_file="${2:-../shared/data/analytics-mixpanel.jsonl}"
[[ -r "$export_file" ]] || { echo "armv6-vs-armv7: no analytics export at $export_file" >&2; exit 1; }

v6="$(bash scripts/cross-build.sh armv6)"
v7="$(bash scripts/cross-build.sh armv7)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 - "$runs" "$export_file" "$work" "$v6" "$v7" <<'EOF'
import os, statistics, subprocess, sys, time

runs, export, work, v6, v7 = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
bins = {"armv6": v6, "armv7": v7}
args = ["profile", "derive", "--format", "mixpanel", "--window", "18-23", "--tz", "+00:00", "--gap", "2m",
        "--name", "evening", export]
print(f"{'target':<7} {'bytes stripped':>14}")
for name, path in bins.items():
    print(f"{name:<7} {os.path.getsize(path):>14}")
print(f"size armv6/armv7: {os.path.getsize(v6) / os.path.getsize(v7):.3f}")
print(f"\nqemu-arm-static -cpu cortex-a7 BIN {' '.join(args)}   ({runs} runs each, alternating)")
times = {name: [] for name in bins}
outputs = {}
for i in range(runs):
    for name, path in bins.items():
        start = time.perf_counter()
        out = subprocess.run(["qemu-arm-static", "-cpu", "cortex-a7", path, *args], check=True,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
        times[name].append(time.perf_counter() - start)
        outputs.setdefault(name, out)
        print(f"  run {i + 1} {name}: {times[name][-1]:.2f} s")
medians = {name: statistics.median(t) for name, t in times.items()}
for name, m in medians.items():
    print(f"median {name}: {m:.2f} s (min {min(times[name]):.2f}, max {max(times[name]):.2f})")
print(f"time armv6/armv7: {medians['armv6'] / medians['armv7']:.3f} (medians), "
      f"{min(times['armv6']) / min(times['armv7']):.3f} (fastest runs: the least disturbed by other load)")
if outputs["armv6"] != outputs["armv7"]:
    sys.exit("armv6-vs-armv7: the two binaries derived different profiles")
print("both derived the same profile")
EOF
