#!/usr/bin/env bash
# Installs the browser tests' npm dependencies (playwright-core, pinned in package-lock.json)
# into tests/browser/node_modules when they are missing. The browser itself is Debian's chromium
# (scripts/setup.sh installs it); playwright never downloads one.
set -euo pipefail
cd "$(dirname "$0")"
if [ -d node_modules/playwright-core ] &&
  node -e 'process.exit(require("./node_modules/playwright-core/package.json").version === require("./package-lock.json").packages["node_modules/playwright-core"].version ? 0 : 1)' 2>/dev/null; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "browser tests: npm not found; the browser tests will be skipped" >&2
  exit 0
fi
echo "browser tests: installing playwright-core (npm ci)" >&2
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
npm ci --no-audit --no-fund --loglevel=error >&2
