#!/usr/bin/env bash
# The demo: retraind's training loop on the embedded default (local store, journal parameters,
# builtin engine), on images it generates itself. Installs what is missing, builds, then tells
# the story of issue #3 as it happens and ends with `retraind status`.
#   scripts/demo.sh [DEMO_DIR]      (default: ./var/demo, recreated on every run)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target retraind retraind-synth >/dev/null
exec python3 scripts/demo.py "${1:-var/demo}"
