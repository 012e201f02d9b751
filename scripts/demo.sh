#!/usr/bin/env bash
# The demo: retraind on the embedded default (local store, journal parameters, builtin engine,
# local review portal), on images it generates itself. Installs what is missing, builds, then
# tells the story as it happens: trainings and deployments (issue #3), then detection, review in
# the portal, the answers copied back and the next training (issue #8); ends with `retraind
# status`. At a terminal it waits for you to label in the browser; without one
# (`scripts/demo.sh < /dev/null`, CI) it answers through the portal itself.
#   scripts/demo.sh [DEMO_DIR]      (default: ./var/demo, recreated on every run)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p build
echo "demo: building retraind (log in build/demo-build.log)" >&2
if ! { cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
       cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target retraind retraind-synth; } \
     > build/demo-build.log 2>&1; then
  cat build/demo-build.log >&2
  exit 1
fi
exec python3 scripts/demo.py "${1:-var/demo}"
