#!/usr/bin/env bash
# Fails when an #include crosses a module boundary the wrong way (docs/architecture.md):
# core uses nothing of ours above it; only journal includes sqlite3.h; only httpc includes curl;
# workflow sees driver interfaces only (no httpc, sigv4, aws, sqlite, or a driver's private header);
# the CLI uses include/retraind/ only (no private headers of other folders); creds (the credential
# providers) uses httpc, sigv4 and core, never aws; aws reaches creds only through
# include/retraind/credentials.h, never through src/creds/ itself.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
bad() { echo "checkdeps: $*" >&2; fail=1; }

core_ok='alloc|buf|clock|config|endpoint|error|form|fsutil|hash|log|loop|paramdef|xml'
while IFS= read -r line; do
  bad "core must not include $line"
done < <(grep -HnE '#include "retraind/' src/core/*.c | grep -vE "retraind/($core_ok)\.h" || true)

grep -rlE '#include <sqlite3\.h>' src | grep -v '^src/journal/' | while read -r f; do
  echo "checkdeps: $f includes sqlite3.h (only src/journal may)" >&2; echo x; done | grep -q x && fail=1
grep -rlE '#include <curl/' src | grep -v '^src/httpc/' | while read -r f; do
  echo "checkdeps: $f includes curl (only src/httpc may)" >&2; echo x; done | grep -q x && fail=1

if grep -HnE '#include "retraind/(httpc|sigv4|aws|credentials)\.h"' src/workflow/*.c src/workflow/*.h; then
  bad "workflow must only see driver interfaces"
fi
if grep -HnE '#include "(retraind/aws\.h|[^"]*aws_int\.h|\.\./aws/)' src/creds/*.c src/creds/*.h; then
  bad "creds must not include aws (aws uses creds, not the other way round)"
fi
if grep -HnE '#include "[^"]*(creds_int\.h|creds/)' src/aws/*.c src/aws/*.h include/retraind/aws.h; then
  bad "aws reaches creds only through include/retraind/credentials.h"
fi
if grep -HnE '#include "\.\./' src/cli/*.c src/workflow/*.c src/daemon/*.c; then
  bad "a module reaches into another folder's private files"
fi
[ "$fail" -eq 0 ] && echo "checkdeps: ok" >&2
exit "$fail"
