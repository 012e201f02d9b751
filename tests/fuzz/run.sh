#!/usr/bin/env bash
# Builds one libFuzzer target with clang and runs it briefly (ctest label "fuzz").
#   run.sh NAME SECONDS CORPUS_DIR SOURCE...
# The target is built separately from the main (gcc) tree, with ASan+UBSan, into
# $RETRAIND_BUILD/fuzz/. Without clang it builds the same target as an AFL-style file
# replayer with gcc and replays the corpus, so the suite still exercises the parser.
set -euo pipefail
name=$1 secs=$2 corpus=$3
shift 3
src_root=$(cd "$(dirname "$0")/../.." && pwd)
out=${RETRAIND_BUILD:-$src_root/build}/fuzz
mkdir -p "$out/$name-corpus"
cp -r "$corpus"/. "$out/$name-corpus/" 2>/dev/null || true
libs=$(pkg-config --cflags --libs yaml-0.1 libcjson libcrypto libpng libjpeg libuv expat)
common=(-std=c11 -D_GNU_SOURCE -DRETRAIND_VERSION='"fuzz"' -I"$src_root/include" -g -O1)
if command -v clang >/dev/null 2>&1; then
  clang "${common[@]}" -fsanitize=fuzzer,address,undefined "$@" $libs -lm -o "$out/$name"
  # -rss_limit_mb keeps a runaway allocation from taking the machine.
  # A fixed seed keeps the suite's short run repeatable; RT_FUZZ_SECONDS and RT_FUZZ_SEED let a
  # developer run a longer or different campaign (findings go to the seed corpus as test cases).
  exec "$out/$name" -max_total_time="${RT_FUZZ_SECONDS:-$secs}" -seed="${RT_FUZZ_SEED:-1}" \
       -rss_limit_mb=1024 -print_final_stats=1 "$out/$name-corpus"
else
  gcc "${common[@]}" -DRT_FUZZ_REPLAY -fsanitize=address,undefined "$@" \
      "$src_root/tests/fuzz/replay_main.c" $libs -lm -o "$out/$name"
  exec "$out/$name" "$out/$name-corpus"/*
fi
