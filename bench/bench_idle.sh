#!/usr/bin/env bash
# Idle daemon: resident memory and wake-ups between timer deadlines (issue #3 target: < 8 MB
# resident, no wake-ups between deadlines; issue #8: the same with the HTTP server listening and
# the detection folder watched — the store rescan every store.scan, 10 s by default, is a timer
# deadline). Starts retraind on a fresh folder with a 10-minute poll, lets it settle, reads VmRSS/VmHWM from /proc, counts the context switches of all its
# threads (/proc/PID/task/*/status: every wake-up is one) for SECONDS without a tracer, then the
# system calls with strace -c for SECONDS more (default 60 each). Prints figures beside the
# targets; never fails on them.
#   bench/bench_idle.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
build=${1:-build}
secs=${2:-60}
bin=$(cd "$build" && pwd)/retraind
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
mkdir -p "$dir/bucket/images_labeled_by_folder/a"
cat > "$dir/c.yaml" <<YAML
data_dir: data
store: { driver: local, root: bucket }
parameters: { driver: local, defaults: { Automatic-Training-Poll-Frequency: 10m } }
http: { listen: 127.0.0.1:0 }   # the server listens (issue #8: still < 8 MB, no wake-ups)
YAML
"$bin" run -c "$dir/c.yaml" 2> "$dir/log" &
pid=$!
for _ in $(seq 50); do grep -q event=ready "$dir/log" 2>/dev/null && break; sleep 0.1; done
sleep 2
rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
hwm=$(awk '/VmHWM/{print $2}' /proc/$pid/status)
printf 'idle daemon resident: %d KiB (peak %d KiB)   target < 8192 KiB\n' "$rss" "$hwm"
if [ -r /proc/$pid/smaps_rollup ]; then
  # RSS counts shared library pages in full; PSS and private dirty say what this process costs.
  awk '/^(Pss|Shared_Clean|Private_Clean|Private_Dirty):/{printf "  %-15s %6d KiB\n", $1, $2}' \
    /proc/$pid/smaps_rollup
  echo "  largest mappings (KiB resident):"
  awk '/^[0-9a-f]/{name=$6} /^Rss/{rss[name]+=$2} END{for(n in rss) if(rss[n]>300) print rss[n], n}' \
    /proc/$pid/smaps | sort -rn | head -8 | sed 's/^/    /'
fi
# Wake-ups without a tracer (strace's own attach stops the threads and counts as switches).
ctx() { cat /proc/"$pid"/task/*/status 2>/dev/null | awk '/ctxt_switches/{s+=$2} END{print s+0}'; }
threads=$(ls /proc/"$pid"/task | wc -l)
c0=$(ctx)
sleep "$secs"
c1=$(ctx)
printf 'context switches in %ds idle (%d threads): %d   target: 0 between timer deadlines\n' \
  "$secs" "$threads" "$((c1 - c0))"
if command -v strace >/dev/null 2>&1; then
  timeout "$secs" strace -c -f -p "$pid" -o "$dir/strace" 2>"$dir/strace.err" || true
  # With no system call at all strace -c writes an empty summary; no file: it never attached.
  if [ -e "$dir/strace" ]; then
    calls=$(awk '/total/{print $3}' "$dir/strace")
  else
    calls="not measured (strace wrote no summary)"
  fi
  printf 'system calls in %ds idle: %s   target: 0 between timer deadlines (poll period 10 min)\n' \
    "$secs" "${calls:-0}"
  sed -n '1,12p' "$dir/strace" 2>/dev/null || true
  grep -v -e attached -e detached "$dir/strace.err" || true
else
  echo "strace not installed: wake-ups not measured"
fi
kill -TERM "$pid"
wait "$pid" || true
