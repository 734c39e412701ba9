#!/usr/bin/env bash
# Installs the Debian packages nanochat.cpp needs, only those missing. Idempotent; works as root or
# through sudo; prints what it installs. Usage: scripts/setup.sh [--dry-run]
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ cmake ninja-build pkg-config ccache
  # libraries (see DESIGN.md: real engines from Debian, nothing vendored)
  libfmt-dev nlohmann-json3-dev libabsl-dev libpcre2-dev
  libzstd-dev libsnappy-dev liblz4-dev zlib1g-dev
  libopenblas-dev libcurl4-openssl-dev libcpp-httplib-dev libssl-dev libbrotli-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev curl
  # browser test of the web UI (tests/serve/e2e; also needs node + "npm ci" there, else it skips)
  chromium
  # word list of the SpellingBee/SimpleSpelling tasks (mid-training)
  wamerican
  # the CPU demo's offline corpus: English prose shipped by Debian (see README, "Demo corpus")
  python3.11-doc postgresql-doc-15 debian-reference-en jargon-text fortunes
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#PACKAGES[@]} Debian packages are installed"
  exit 0
fi

echo "setup: installing ${#missing[@]} missing package(s): ${missing[*]}"
if [[ "${1:-}" == "--dry-run" ]]; then exit 0; fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO=(sudo); else
    echo "setup: error: not root and sudo is not available; install as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
