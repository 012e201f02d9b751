#!/usr/bin/env bash
# Formats the C sources with the project's .clang-format (Debian 12's clang-format 14).
#   scripts/format.sh           rewrites every file that is not formatted
#   scripts/format.sh --check   changes nothing; lists unformatted files and exits 1 if any
#   scripts/format.sh FILE...   formats only those files
set -euo pipefail
cd "$(dirname "$0")/.."

check=0
if [ "${1:-}" = "--check" ]; then
  check=1
  shift
fi
if ! command -v clang-format >/dev/null 2>&1; then
  echo "format: clang-format is missing (scripts/setup.sh installs it)" >&2
  exit 1
fi

if [ "$#" -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(git ls-files -- 'src/*.[ch]' 'include/*.h' 'tests/*.[ch]' 'bench/*.[ch]' 2>/dev/null ||
                       find src include tests bench -name '*.[ch]')
fi

if [ "$check" -eq 0 ]; then
  clang-format -i --style=file "${files[@]}"
  exit 0
fi
bad=0
for f in "${files[@]}"; do
  if ! clang-format --style=file --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "format: $f is not formatted (run scripts/format.sh $f)" >&2
    bad=1
  fi
done
exit $bad
