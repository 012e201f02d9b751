#!/usr/bin/env bash
# The one test command: installs what is missing, builds a normal and an ASan+UBSan tree, and
# runs every test in both through ctest. Exits non-zero on any failure.
#   scripts/test.sh            everything
#   scripts/test.sh -L unit    only unit tests (extra arguments go to ctest)
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc 2>/dev/null || echo 2)

bash scripts/setup.sh
bash scripts/checksrc.sh
bash scripts/checkdeps.sh
bash scripts/format.sh --check

status=0
for variant in build build-asan; do
  opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
  [ "$variant" = build-asan ] && opts=(-DCMAKE_BUILD_TYPE=Debug -DRETRAIND_SANITIZE=ON -DRETRAIND_BENCH=OFF)
  echo "== $variant: configure and build" >&2
  cmake -S . -B "$variant" "${opts[@]}" >/dev/null
  cmake --build "$variant" -j"$JOBS"
  echo "== $variant: ctest" >&2
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  (cd "$variant" && ctest --output-on-failure -j"$JOBS" "$@") || status=1
done
exit $status
