#!/usr/bin/env bash
# Installs what Memoir needs on a Debian machine, once; a no-op when it is
# all there. Run as root (or with sudo available).
#   clang, libclang-dev   rocksdb's bindgen (the snapshot crate)
#   protobuf-compiler     raft-rs's prost codec
#   redis-server, -tools  the reference server and redis-cli/redis-benchmark
#   pkg-config, make      build helpers for -sys crates
#   python3-venv          a virtualenv for redis-py (the client tests)
set -euo pipefail

packages=(clang libclang-dev protobuf-compiler redis-server redis-tools pkg-config make python3-venv)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts redis-server as a service on install; benchmarks start their
# own instances on other ports, so the packaged one is left alone.

# redis-py from PyPI, pinned, in a virtualenv beside the build cache: the
# client tests (engine/tests/client_tools.rs) run it against a node.
venv="${MEMOIR_VENV:-$HOME/.cache/memoir/venv}"
if ! "$venv/bin/python" -c 'import redis' >/dev/null 2>&1; then
  echo "setup: installing redis-py into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "redis==5.2.1"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing: install Rust (1.85 or newer) with rustup first" >&2
  exit 1
fi
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component"
  fi
done
