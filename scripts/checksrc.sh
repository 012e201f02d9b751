#!/usr/bin/env bash
# Fails when a banned C call appears in src/ (curl's list, trimmed; see docs/architecture.md).
set -euo pipefail
cd "$(dirname "$0")/.."
banned='\b(strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|gmtime|localtime|strerror|gets)\s*\('
if grep -rnE "$banned" src include --include='*.c' --include='*.h' | grep -v 'checksrc:allow'; then
  echo "checksrc: banned call(s) above; use the bounded or reentrant alternative" >&2
  exit 1
fi
echo "checksrc: ok" >&2
