#!/usr/bin/env bash
# Cross-compiles the kernel test for aarch64 (NEON) and runs it under qemu-user. Installs
# Debian's g++-aarch64-linux-gnu and qemu-user when missing (needs root).
set -euo pipefail
native="$(cd "$(dirname "$0")/.." && pwd)"
if ! command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 || ! command -v qemu-aarch64 >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { echo "need root to install g++-aarch64-linux-gnu and qemu-user"; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++-aarch64-linux-gnu qemu-user >/dev/null
fi
out="$native/test/build/kernels_test_aarch64"
CXX=aarch64-linux-gnu-g++ OUT="$out" bash "$native/test/build-kernels-test.sh" >/dev/null
qemu-aarch64 -L /usr/aarch64-linux-gnu "$out"
