#!/usr/bin/env bash
# Set up everything the test suite needs on a Debian 12 machine, idempotently, then run the whole suite.
#   - Debian packages: mosquitto (the real broker the tests start on free ports), python3-venv, systemd (for
#     systemd-analyze verify of the unit), openssl (certificates for the TLS test); installed only when missing.
#   - A Python venv with Django + gunicorn for the test site (scripts/setup-test-venv.sh; outside the work tree).
#   - ansible-playbook --syntax-check of every playbook in deploy/ansible (ansible-core is in the venv).
#   - cargo test: unit tests and the integration tests (one binary) against real mosquitto and Django; they also
#     run the Ansible role into a temporary prefix and loadtest.yml with two local lamps (tests/integration/fleet.rs).
#   - scripts/cross-check.sh aarch64 and armv6: the two static Pi builds (zig, cargo-zigbuild and Debian's rustc-web,
#     installed by scripts/cross-build.sh), each smoke-tested under qemu, armv6 on the Pi Zero's CPU (-cpu arm1176);
#     LAMPI_TEST_CROSS=0 skips them. The target directory and zig's cache are outside the work tree
#     (~/.cache/lampi-agent/static-target, ~/.cache/zig); each build prints the time it took (README, Fleet).
#   - The host build goes to ~/.cache/lampi-agent/host-target (outside the work tree; kept between clones).
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh run_mode`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need=()
command -v mosquitto >/dev/null 2>&1 || [[ -x /usr/sbin/mosquitto ]] || need+=(mosquitto)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if ((${#need[@]})); then
    sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
    echo "test.sh: installing ${need[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin"

bash scripts/setup-test-venv.sh

venv="${LAMPI_TEST_VENV:-$HOME/.cache/lampi-agent/venv}"
ansible_home="$(mktemp -d)"
for book in site.yml loadtest.yml; do
    (cd deploy/ansible && ANSIBLE_HOME="$ansible_home" "$venv/bin/ansible-playbook" --syntax-check \
        -i inventory.example.yml "$book" >/dev/null) || { echo "test.sh: $book fails the syntax check" >&2; exit 1; }
done
rm -rf "$ansible_home"
echo "test.sh: deploy/ansible playbooks pass --syntax-check" >&2

# The Pi builds, checked under qemu (the whole suite only, not when a test filter was given; LAMPI_TEST_CROSS=0 skips).
if [[ $# -eq 0 && "${LAMPI_TEST_CROSS:-1}" == 1 ]]; then
    bash scripts/cross-check.sh aarch64
    bash scripts/cross-check.sh armv6
fi

# The host build's target directory lives outside the work tree, so a fresh clone (CI) reuses the compiled
# dependencies instead of building them all again; an explicit CARGO_TARGET_DIR or LAMPI_HOST_TARGET_DIR wins.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${LAMPI_HOST_TARGET_DIR:-$HOME/.cache/lampi-agent/host-target}}"

# Last, so its summary closes the output: unit tests and the integration tests against real mosquitto and Django.
cargo test --locked "$@"

