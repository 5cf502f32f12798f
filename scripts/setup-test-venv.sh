#!/usr/bin/env bash
# Create (or refresh) the Python venv the integration tests use to run the test Django site.
# Idempotent: pip runs only when tests/requirements.txt changed since the last successful install.
#   LAMPI_TEST_VENV  venv location (default: $HOME/.cache/lampi-agent/venv)
#   PYTHON           interpreter used to create the venv (default: python3)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
req="$repo_root/tests/requirements.txt"
venv="${LAMPI_TEST_VENV:-$HOME/.cache/lampi-agent/venv}"
python="${PYTHON:-python3}"
stamp="$venv/.lampi-requirements.sha256"

if [[ ! -x "$venv/bin/python" ]]; then
    echo "setup-test-venv: creating venv at $venv" >&2
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv"
fi

want="$(sha256sum "$req" | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [[ "$want" != "$have" ]]; then
    echo "setup-test-venv: installing $req" >&2
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
    printf '%s\n' "$want" > "$stamp"
else
    echo "setup-test-venv: $venv is up to date" >&2
fi
