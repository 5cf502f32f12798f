#!/usr/bin/env bash
# What readelf says about a Pi build, on one line, and whether it is what the target needs:
#   scripts/elf-facts.sh aarch64|armv6|armv7 BIN
# Prints e.g. `statically linked, stripped, ARM, Tag_CPU_arch: v6, Tag_FP_arch: VFPv2, Tag_THUMB_ISA_use: Thumb-1`.
# Statically linked means no program interpreter (PT_INTERP) and no shared library (DT_NEEDED); stripped, no
# .symtab section. Exits 1 unless the binary is static, stripped, of the target's machine and, for the 32-bit
# targets, of its Tag_CPU_arch (v6 or v7): a binary that would die with "Illegal instruction" on a Pi Zero's
# ARM1176 does not pass as armv6.
set -euo pipefail

arch="${1:?usage: elf-facts.sh aarch64|armv6|armv7 BIN}"
bin="${2:?usage: elf-facts.sh aarch64|armv6|armv7 BIN}"
case "$arch" in
    aarch64) machine=AArch64 cpu_arch="" ;;
    armv6) machine=ARM cpu_arch=v6 ;;
    armv7) machine=ARM cpu_arch=v7 ;;
    *) echo "elf-facts: unknown target $arch" >&2; exit 2 ;;
esac

problems=()
if readelf -lW "$bin" | grep -q 'INTERP' || readelf -dW "$bin" | grep -q '(NEEDED)'; then
    linking="dynamically linked ($(readelf -dW "$bin" | grep -o 'Shared library: \[[^]]*\]' | tr '\n' ' '))"
    problems+=("not statically linked")
else
    linking="statically linked"
fi
if readelf -SW "$bin" | grep -q ' \.symtab '; then
    linking+=", not stripped"
    problems+=("not stripped")
else
    linking+=", stripped"
fi
found_machine="$(readelf -hW "$bin" | sed -n 's/^ *Machine: *//p')"
[[ "$found_machine" == "$machine" ]] || problems+=("machine is $found_machine, expected $machine")
facts="$linking, $found_machine"
if [[ -n "$cpu_arch" ]]; then
    attrs="$(readelf -A "$bin")"
    for tag in Tag_CPU_arch Tag_FP_arch Tag_THUMB_ISA_use; do
        value="$(sed -n "s/^ *$tag: *//p" <<<"$attrs" | head -1)"
        facts+=", $tag: ${value:-none}"
        [[ "$tag" != Tag_CPU_arch || "$value" == "$cpu_arch" ]] || problems+=("Tag_CPU_arch is $value, expected $cpu_arch")
    done
fi
echo "$facts"
if ((${#problems[@]})); then
    echo "elf-facts: $bin is no $arch build: ${problems[*]}" >&2
    exit 1
fi
