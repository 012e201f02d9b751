#!/usr/bin/env bash
# Portal and API under load (issue #8 targets: >= 5,000 req/s for /api/status, p99 < 20 ms, with
# 64 concurrent clients, while a training runs). Starts retraind on a fresh folder with the HTTP
# server on a free loopback port, an admin token and a reviewer, starts a training on enough
# images that it lasts the whole measurement, then runs wrk (Debian's; installed when missing)
# against /api/status with the bearer token and against /review with a signed-in session.
# Prints wrk's figures beside the targets; never fails on them.
#   bench/bench_portal.sh [BUILD_DIR] [SECONDS] [IMAGES]
set -euo pipefail
build=${1:-build}
secs=${2:-10}
images=${3:-3000}
bin=$(cd "$build" && pwd)/retraind
synth=$(cd "$build" && pwd)/retraind-synth
command -v wrk >/dev/null 2>&1 || {
  echo "bench_portal: installing wrk" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends wrk >/dev/null
}
dir=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT

token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
token_sha=$(printf %s "$token" | sha256sum | cut -d' ' -f1)
hash=$(printf 'bench-password\n' | "$bin" passwd)
cat > "$dir/c.yaml" <<YAML
data_dir: data
store: { driver: local, root: bucket }
parameters: { driver: local, defaults: { Automatic-Training-Poll-Frequency: 10m,
                                         Minimum-Untrained-Images: 10 } }
review: { users: [ { name: rev, password_hash: '$hash', role: reviewer } ] }
http: { listen: 127.0.0.1:0, tokens: [ { name: bench, role: admin, token_sha256: $token_sha } ] }
YAML
echo "bench_portal: drawing $images images of 256x256 for a training that outlasts the load" >&2
"$synth" --labels stripes,circles --count $((images / 2)) --size 256 \
  --dir "$dir/bucket/images_labeled_by_folder" >/dev/null

"$bin" run -c "$dir/c.yaml" 2> "$dir/log" &
pid=$!
addr=""
for _ in $(seq 100); do
  addr=$(sed -n 's/.*event=http_listening address=\([^ ]*\).*/\1/p' "$dir/log" | head -1)
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { echo "bench_portal: the daemon did not listen" >&2; cat "$dir/log" >&2; exit 1; }
base="http://$addr"
for _ in $(seq 100); do grep -q "event=train_progress\|event=training_started\|state=TRAIN" \
  "$dir/log" && break; sleep 0.1; done

# Sign in as the reviewer: the login form's CSRF cookie, then the form post.
jar="$dir/cookies"
curl -s -c "$jar" -o /dev/null "$base/login"
csrf=$(awk '$6 == "rt_login_csrf" {print $7}' "$jar")
curl -s -b "$jar" -c "$jar" -o /dev/null --data-urlencode "user=rev" \
  --data-urlencode "password=bench-password" --data-urlencode "csrf=$csrf" "$base/login"
session=$(awk '$6 == "rt_session" {print $7}' "$jar")

run_wrk() {
  local what=$1 path=$2 header=$3
  echo "== $what: $path, 64 connections, ${secs}s, training in flight: $(
    "$bin" status -c "$dir/c.yaml" --json | python3 -c \
      'import json,sys; print(len(json.load(sys.stdin)["in_flight"]))') execution(s)"
  wrk -t2 -c64 -d"${secs}s" --latency -H "$header" "$base$path" | sed 's/^/  /'
}
run_wrk "API status" /api/status "Authorization: Bearer $token"
echo "  target: >= 5000 requests/s, 99% latency < 20 ms"
if [ -n "$session" ]; then
  run_wrk "review page" /review "Cookie: rt_session=$session"
  echo "  target: >= 5000 requests/s, 99% latency < 20 ms"
else
  echo "== review page: sign-in failed, not measured"
fi
rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
printf 'daemon resident after the load: %d KiB\n' "$rss"
kill -TERM "$pid"
wait "$pid" || true
pid=""
