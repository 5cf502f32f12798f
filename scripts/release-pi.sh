#!/usr/bin/env bash
# Build and qemu-check every Pi target, and print the table the README's Fleet section shows:
#   scripts/release-pi.sh [OUT_DIR]     (default: dist/ under $HOME/.cache/lampi-agent)
# Targets: aarch64 (64-bit Pi OS) and armv6 (every 32-bit Pi OS, Pi Zero to Pi 4), both static musl binaries from
# scripts/cross-build.sh; LAMPI_RELEASE_TARGETS overrides the list (e.g. "aarch64 armv6 armv7"). Copies each binary
# that passes scripts/cross-check.sh to OUT_DIR/lampi-agent-<target>, the names deploy/ansible expects in
# lampi_binary_dir, and fails if any target fails to build or to pass. The build column is the wall time of
# scripts/cross-build.sh (cached under $HOME/.cache/lampi-agent and ~/.cache/zig: cold, 2-4 min a target alone on
# 2 cores and 13-15 min measured while other builds loaded them; seconds when nothing changed); "static", "stripped"
# and the CPU architecture come from readelf (scripts/elf-facts.sh).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-$HOME/.cache/lampi-agent/dist}"
mkdir -p "$out"
status=0
row() { printf '%-8s %-31s %-9s %-6s %-40s %s\n' "$@"; }
row target triple bytes build readelf "check under qemu"
for arch in ${LAMPI_RELEASE_TARGETS:-aarch64 armv6}; do
    start=$(date +%s)
    if ! bin="$(bash scripts/cross-build.sh "$arch" 2>"$out/build-$arch.log")"; then
        row "$arch" - - FAILED - "see $out/build-$arch.log"
        status=1
        continue
    fi
    took="$(($(date +%s) - start))s"
    triple="$(basename "$(dirname "$(dirname "$bin")")")"
    facts="$(bash scripts/elf-facts.sh "$arch" "$bin" 2>/dev/null |
        sed -e 's/statically linked/static/' -e 's/Tag_CPU_arch: /Tag_CPU_arch /' -e 's/, Tag_FP_arch.*//')"
    if bash scripts/cross-check.sh "$arch" "$bin" >"$out/check-$arch.log" 2>&1; then
        cp "$bin" "$out/lampi-agent-$arch"
        check="ok: $(sed -n 's/^cross-check: .* OK on \(.*\) (.*/-cpu \1/p' "$out/check-$arch.log")"
    else
        check="FAILED ($(grep -m1 -o 'Illegal instruction' "$out/check-$arch.log" || echo "see $out/check-$arch.log"))"
        status=1
    fi
    row "$arch" "$triple" "$(stat -c %s "$bin")" "$took" "$facts" "$check"
done
exit "$status"
