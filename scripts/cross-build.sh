#!/usr/bin/env bash
# Build lampi-agent for a Raspberry Pi without Docker (`cross` needs Docker; Cross.toml is for machines that have it).
#
#   scripts/cross-build.sh aarch64|armv7|armv6     -> prints the binary's path; the binary is stripped
#
# How (DESIGN section 7): Debian's `rustc-web` (/usr/bin/rustc) driven by rustup's cargo with RUSTC=/usr/bin/rustc,
# and the gcc cross linker of the target. The Pi builds leave out the embedded demo broker
# (--no-default-features --features gpio).
#   aarch64  (Pi 3/4/5, 64-bit Pi OS): the prebuilt std of `libstd-rust-web-dev:arm64` (same version as rustc-web).
#   armv7    (Pi 2/3/4, 32-bit Pi OS): Debian's armhf std is not installable next to the amd64 compiler, so std is
#            built from `rust-web-src` (RUSTC_BOOTSTRAP=1 cargo -Zbuild-std).
#   armv6    (Pi Zero / Pi 1): builds the same way, but Debian's armhf C runtime and libgcc are ARMv7 code, so the
#            binary dies with "Illegal instruction" on a real ARMv6 CPU. A Raspberry Pi OS sysroot (or `cross` with
#            Docker) is needed for a binary that runs there; scripts/cross-check.sh armv6 shows the failure.
# Installs what it needs with apt, idempotently (root or sudo). The target directory is outside the work tree:
#   LAMPI_CROSS_TARGET_DIR (default $HOME/.cache/lampi-agent/cross-target)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

arch="${1:?usage: cross-build.sh aarch64|armv7|armv6}"
case "$arch" in
    aarch64) triple=aarch64-unknown-linux-gnu gnu=aarch64-linux-gnu debarch=arm64 build_std=0 ;;
    armv7) triple=armv7-unknown-linux-gnueabihf gnu=arm-linux-gnueabihf debarch=armhf build_std=1 ;;
    armv6) triple=arm-unknown-linux-gnueabihf gnu=arm-linux-gnueabihf debarch=armhf build_std=1 ;;
    *) echo "cross-build: unknown target $arch (aarch64, armv7 or armv6)" >&2; exit 2 ;;
esac

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
apt_install rustc-web "gcc-$gnu" "libc6-dev-$debarch-cross"
if ((build_std)); then
    apt_install rust-web-src
else
    # The target's std must be exactly the compiler's version.
    version="$(dpkg-query -W -f='${Version}' rustc-web)"
    if [[ "$(dpkg-query -W -f='${Version}' "libstd-rust-web-dev:$debarch" 2>/dev/null || true)" != "$version" ]]; then
        dpkg --print-foreign-architectures | grep -qx "$debarch" || $sudo dpkg --add-architecture "$debarch"
        $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
            --no-install-recommends "libstd-rust-web-dev:$debarch=$version" >/dev/null
    fi
fi

base="${LAMPI_CROSS_TARGET_DIR:-$HOME/.cache/lampi-agent/cross-target}"
# build-std builds keep their own directory: their std differs from the prebuilt one.
target_dir="$base"; ((build_std)) && target_dir="$base-build-std"
upper="$(echo "$triple" | tr 'a-z-' 'A-Z_')"
export RUSTC=/usr/bin/rustc
export "CARGO_TARGET_${upper}_LINKER=$gnu-gcc"
export "CC_${triple//-/_}=$gnu-gcc" "AR_${triple//-/_}=$gnu-ar"
export CARGO_TARGET_DIR="$target_dir"
args=(build --release --locked --target "$triple" --no-default-features --features gpio)
if ((build_std)); then
    export RUSTC_BOOTSTRAP=1
    args+=(-Zbuild-std=std,panic_abort)
fi
echo "cargo ${args[*]}  (RUSTC=$RUSTC, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)" >&2
start=$(date +%s)
cargo "${args[@]}" >&2
bin="$target_dir/$triple/release/lampi-agent"
"$gnu-strip" "$bin"
echo "cross-build: $arch built in $(($(date +%s) - start)) s, $(stat -c %s "$bin") bytes stripped" >&2
echo "$bin"
