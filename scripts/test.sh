#!/usr/bin/env bash
# Install everything the test suite needs, then run the checks and every test.
# Used as-is by CI (.ci/run); safe to run again (it only installs what is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

# Real peers for the tests: Redis, IRC servers (ngircd; InspIRCd + Anope services for
# SASL/NickServ), an SMTP test client, a headless browser for the status page (Debian packages).
export PATH="$PATH:/usr/sbin:/sbin"
missing=()
for pair in redis-server:redis-server ngircd:ngircd inspircd:inspircd anope:anope swaks:swaks \
        chromium:chromium chromedriver:chromium-driver; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair##*:}")
done
if ((${#missing[@]})); then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -r requirements-dev.txt

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/mypy --strict gateways/plugin.py gateways/interface.py gateways/flow.py gateways/testing  # the plugin SDK, the test kit
# The docs site: a broken link or anchor, or a page left out of the nav, fails the build.
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir "$(mktemp -d)"
.venv/bin/pytest "$@"
