#!/usr/bin/env bash
# Install what the browser tests (pytest -m browser) need: Debian's chromium and the
# playwright Python package. Playwright drives /usr/bin/chromium (executable_path); it never
# downloads its own browser builds (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1).
# Idempotent: does nothing when both are already there. Needs root (apt-get).
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

if [ ! -x /usr/bin/chromium ]; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

if ! python -c "import playwright.sync_api" 2>/dev/null; then
    python -m pip install --quiet "playwright>=1.40"
fi

/usr/bin/chromium --version
python -c "import importlib.metadata as m; print('playwright', m.version('playwright'))"
