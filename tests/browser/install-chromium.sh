#!/usr/bin/env bash
# Make sure Debian's chromium is at /usr/bin/chromium for the browser tests (tests/browser).
#
# Playwright drives the distribution's browser; `playwright install` downloads a build of its
# own and is never used. When chromium is missing and this machine can install it (root with
# apt-get), it is installed quietly. When it cannot be installed, this script only says so and
# exits 0: the browser tests then fail saying chromium is missing (tests/conftest.py,
# `unavailable`), so they never pass without running.
set -uo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "chromium is missing and only root may install it: run 'apt-get install chromium' as root, or the browser tests will not run."
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium is missing and there is no apt-get to install it with: the browser tests will not run."
    exit 0
fi

echo "Installing Debian's chromium for the browser tests (apt-get, once per machine)..."
log=$(mktemp -t matterpay-chromium-install.XXXXXX)
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq >"$log" 2>&1 \
    && apt-get install -y -qq --no-install-recommends chromium >>"$log" 2>&1 \
    && [ -x "$CHROMIUM" ]; then
    rm -f "$log"
    exit 0
fi
echo "Installing chromium failed; the browser tests will not run. The last lines of apt-get's output ($log):"
tail -n 15 "$log"
exit 0
