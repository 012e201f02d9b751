#!/usr/bin/env bash
# Installs what retraind needs to build, run and test on Debian 12.
# Idempotent: installs only the packages that are missing, so a second run is quick.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
  libuv1-dev libcurl4-openssl-dev libssl-dev libcjson-dev libyaml-dev
  libsqlite3-dev libexpat1-dev libpng-dev libjpeg62-turbo-dev libh2o-dev libargon2-dev
  python3 python3-aiosmtpd python3-prometheus-client sqlite3 ca-certificates strace procps
  nodejs npm chromium python3-boto3
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# nodejs/npm may come from somewhere other than Debian (a preinstalled toolchain); accept that.
filtered=()
for p in "${missing[@]}"; do
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 || filtered+=("$p") ;;
    npm) command -v npm >/dev/null 2>&1 || filtered+=("$p") ;;
    *) filtered+=("$p") ;;
  esac
done

if [ "${#filtered[@]}" -gt 0 ]; then
  echo "setup: installing ${filtered[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${filtered[@]}" >/dev/null
fi
# The browser tests' npm packages (playwright-core; it drives Debian's chromium, never a download).
"$(dirname "$0")/../tests/browser/install.sh"
echo "setup: all build and test dependencies present" >&2
