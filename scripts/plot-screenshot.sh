#!/usr/bin/env bash
# Open a `lampi-agent report plot` page in headless Chromium and save a screenshot, to check by eye that the
# inline SVG charts render with no network. Not part of CI (Chromium is a heavy install); run it after changing
# src/report/plot.rs.
#   scripts/plot-screenshot.sh REPORT.html [OUT.png]      (default OUT: REPORT.png beside the page)
# Installs chromium with apt if it is missing (needs root or sudo). Fails if Chromium fails or the PNG is empty.
set -euo pipefail
page="$(realpath "${1:?usage: plot-screenshot.sh REPORT.html [OUT.png]}")"
png="$(realpath -m "${2:-${page%.html}.png}")"
grep -q '<svg' "$page" || { echo "plot-screenshot: $page has no inline <svg>" >&2; exit 1; }
if ! command -v chromium >/dev/null 2>&1; then
    sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
# No network: the page must be self-contained. --virtual-time-budget lets the layout settle before the shot.
timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --no-first-run --user-data-dir="$profile" --hide-scrollbars \
    --window-size=1100,4000 --virtual-time-budget=2000 --screenshot="$png" "file://$page" >/dev/null 2>&1
[[ -s "$png" ]] || { echo "plot-screenshot: no screenshot written to $png" >&2; exit 1; }
echo "plot-screenshot: $png ($(stat -c %s "$png") bytes)"
