#!/usr/bin/env bash
# Set up everything the test suite needs on a Debian 12 machine, idempotently, then run the whole suite.
#   - Debian packages: mosquitto (the real broker the tests start on free ports), python3-venv, systemd (for
#     systemd-analyze verify of the unit), openssl (certificates for the TLS test); installed only when missing.
#   - A Python venv with Django + gunicorn for the test site (scripts/setup-test-venv.sh; outside the work tree).
#   - cargo test: unit tests and the integration tests (one binary) against real mosquitto and Django.
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

# Two cores: keep the build to them and let the test binary's own threads share.
cargo test --locked "$@"
