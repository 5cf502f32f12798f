#!/usr/bin/env bash
# Build and qemu-check every Pi target, and print the sizes and results the README's Fleet table shows:
#   scripts/release-pi.sh [OUT_DIR]     (default: dist/ under $HOME/.cache/lampi-agent)
# Copies each binary that passes its check to OUT_DIR/lampi-agent-<target> (the names deploy/ansible expects in
# lampi_binary_dir). aarch64 and armv7 must pass; armv6 is built and tried, and its known failure (Debian's ARMv7 C
# runtime: "Illegal instruction" on an ARMv6 CPU) is reported without failing the script. Takes about 20 minutes cold
# on 2 cores; cargo caches under $HOME/.cache/lampi-agent make later runs much faster.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-$HOME/.cache/lampi-agent/dist}"
mkdir -p "$out"
status=0
printf '%-8s %-12s %-10s %s\n' target bytes build check
for arch in aarch64 armv7 armv6; do
    start=$(date +%s)
    if ! bin="$(bash scripts/cross-build.sh "$arch" 2>"$out/build-$arch.log")"; then
        printf '%-8s %-12s %-10s %s\n' "$arch" - FAILED "see $out/build-$arch.log"
        status=1
        continue
    fi
    took="$(($(date +%s) - start))s"
    if bash scripts/cross-check.sh "$arch" "$bin" >"$out/check-$arch.log" 2>&1; then
        cp "$bin" "$out/lampi-agent-$arch"
        check=ok
    else
        check="FAILED ($(grep -m1 -o 'Illegal instruction' "$out/check-$arch.log" || echo "see $out/check-$arch.log"))"
        [[ "$arch" == armv6 ]] || status=1
    fi
    printf '%-8s %-12s %-10s %s\n' "$arch" "$(stat -c %s "$bin")" "$took" "$check"
done
exit "$status"
