#!/usr/bin/env bash
# Build lampi-agent for a Raspberry Pi without Docker (`cross` needs Docker; Cross.toml is for machines that have it).
#
#   scripts/cross-build.sh aarch64|armv6|armv7     -> prints the binary's path on stdout; the binary is stripped
#                                                     (Cargo.toml's release profile: strip = true)
#
#   aarch64  aarch64-unknown-linux-musl      Pi 3/4/5 (and Zero 2) on 64-bit Pi OS
#   armv6    arm-unknown-linux-musleabihf    every 32-bit Pi OS: Pi Zero / Zero W / 1 (ARM1176) and Pi 2/3/4
#   armv7    armv7-unknown-linux-musleabihf  Pi 2/3/4 on 32-bit Pi OS only; not shipped (benches/armv6-vs-armv7.sh
#            measures it against the armv6 binary; README, Fleet)
#
# How (DESIGN section 7): static musl binaries linked by zig through cargo-zigbuild. The compiler is Debian's
# `rustc-web` (RUSTC=/usr/bin/rustc, driven by rustup's cargo); std is built from Debian's `rust-web-src`
# (RUSTC_BOOTSTRAP=1, -Zbuild-std), and `-C link-self-contained=no` because Debian ships no self-contained musl
# objects: zig's musl supplies crt1.o, libc and libunwind. No binary depends on the Pi OS release's glibc. The Pi
# builds leave out the embedded demo broker (--no-default-features --features gpio).
#
# Installs what it needs, idempotently: with apt (root or sudo) rustc-web, rust-web-src, python3-venv, binutils;
# with pip ziglang and cargo-zigbuild (pinned) into a venv outside the work tree. Caches, all outside the work tree:
#   LAMPI_CROSS_TARGET_DIR  cargo target directory (default $HOME/.cache/lampi-agent/static-target)
#   LAMPI_ZIG_VENV          the venv with zig and cargo-zigbuild (default $HOME/.cache/lampi-agent/zig-venv)
#   ~/.cache/zig            zig's cache of compiled C objects (zig's own default)
# After the build it prints the wall time it took and, from readelf (scripts/elf-facts.sh), whether the binary is
# statically linked and stripped and its CPU architecture; it fails unless it is static, stripped and of the
# expected architecture (Tag_CPU_arch v6 for armv6).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

arch="${1:?usage: cross-build.sh aarch64|armv6|armv7}"
case "$arch" in
    aarch64) triple=aarch64-unknown-linux-musl ;;
    armv6) triple=arm-unknown-linux-musleabihf ;;
    armv7) triple=armv7-unknown-linux-musleabihf ;;
    *) echo "cross-build: unknown target $arch (aarch64, armv6 or armv7)" >&2; exit 2 ;;
esac
zig_version=0.17.1
zigbuild_version=0.24.1

sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
apt_install() {
    local missing=()
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    ((${#missing[@]})) || return 0
    echo "cross-build: installing ${missing[*]}" >&2
    $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}
apt_install rustc-web rust-web-src python3-venv binutils

venv="${LAMPI_ZIG_VENV:-$HOME/.cache/lampi-agent/zig-venv}"
if [[ "$("$venv/bin/python" -m ziglang version 2>/dev/null || true)" != "$zig_version" ]] ||
    [[ "$("$venv/bin/cargo-zigbuild" --version 2>/dev/null || true)" != "cargo-zigbuild $zigbuild_version" ]]; then
    echo "cross-build: installing ziglang $zig_version and cargo-zigbuild $zigbuild_version into $venv" >&2
    [[ -x "$venv/bin/pip" ]] || python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "ziglang==$zig_version" "cargo-zigbuild==$zigbuild_version" >&2
fi
export PATH="$venv/bin:$PATH"

upper="$(echo "$triple" | tr 'a-z-' 'A-Z_')"
export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
export "CARGO_TARGET_${upper}_RUSTFLAGS=-C link-self-contained=no"
export CARGO_TARGET_DIR="${LAMPI_CROSS_TARGET_DIR:-$HOME/.cache/lampi-agent/static-target}"
args=(zigbuild --release --locked --target "$triple" -Zbuild-std=std,panic_abort --no-default-features --features gpio)
echo "cargo-zigbuild ${args[*]}  (RUSTC=$RUSTC, CARGO_TARGET_DIR=$CARGO_TARGET_DIR, zig $zig_version)" >&2
start=$(date +%s)
cargo-zigbuild "${args[@]}" >&2
took=$(($(date +%s) - start))
bin="$CARGO_TARGET_DIR/$triple/release/lampi-agent"
facts="$(bash scripts/elf-facts.sh "$arch" "$bin")"
echo "cross-build: $arch ($triple) built in $took s, $(stat -c %s "$bin") bytes stripped, $facts" >&2
echo "$bin"
