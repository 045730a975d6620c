#!/usr/bin/env bash
# build-llama-server.sh - build a real llama.cpp `llama-server` quickly.
#
# Usage: scripts/build-llama-server.sh [OUT_DIR]   (default: <repo>/.cache/llama-server)
#
# Sources: the llama.cpp git bundle that node-llama-cpp ships
#   (node_modules/node-llama-cpp/llama/gitRelease.bundle), cloned into OUT_DIR/src.
#
# Why it links prebuilt libraries: a full llama.cpp build of llama-server takes
# ~60 min on 2 cores, nearly all of it in ggml-cpu and libllama (src/models/*).
# node-llama-cpp already ships those, built from the same llama.cpp release, as
# shared libraries in node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/
# (libggml-base.so, libggml.v*.so, libggml-cpu-*.so, libllama.v*.so,
# libllama-common.so). This script compiles only what is not prebuilt
# (tools/server, tools/mtmd, vendor/cpp-httplib, vendor/hash, an empty web-UI
# asset table) against the bundle's headers - see scripts/llama-server/CMakeLists.txt -
# and links it against copies of those .so files placed in OUT_DIR/bin. The binary's
# RUNPATH is $ORIGIN, and ggml loads the best libggml-cpu-*.so variant from the
# binary's directory, so OUT_DIR can be moved. No network access is needed
# (no web UI download, no OpenSSL, no curl).
#
# The build is skipped when OUT_DIR/bin/llama-server exists and OUT_DIR/.build-stamp
# matches the current inputs (sha256 of the bundle, of the prebuilt libraries, of
# the helper CMakeLists.txt and of this script).
#
# Env: JOBS (default 2), LLAMA_SERVER_OPT (C/C++ optimisation flags, default "-O1": the
# compiled code is HTTP/JSON glue, the hot paths live in the prebuilt libs; -O1
# compiles ~25% faster than -O2).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/.." && pwd)"
OUT_DIR="${1:-$REPO_DIR/.cache/llama-server}"
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"

BUNDLE="$REPO_DIR/node_modules/node-llama-cpp/llama/gitRelease.bundle"
PREBUILT="$REPO_DIR/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64"
HELPER_CMAKE="$SCRIPT_DIR/llama-server/CMakeLists.txt"
JOBS="${JOBS:-2}"
OPT="${LLAMA_SERVER_OPT:--O1}"

SRC_DIR="$OUT_DIR/src"
BUILD_DIR="$OUT_DIR/build"
BIN_DIR="$OUT_DIR/bin"
STAMP="$OUT_DIR/.build-stamp"

die() { echo "build-llama-server: $*" >&2; exit 1; }

[[ "$(uname -s)-$(uname -m)" == "Linux-x86_64" ]] || die "only linux-x64 is supported (prebuilt libs are linux-x64)"
[[ -f "$BUNDLE" ]] || die "missing $BUNDLE (run npm ci)"
[[ -f "$PREBUILT/libllama-common.so" ]] || die "missing prebuilt libraries in $PREBUILT (run npm ci)"
[[ -f "$HELPER_CMAKE" ]] || die "missing $HELPER_CMAKE"
for tool in git cmake g++ sha256sum; do
    command -v "$tool" >/dev/null || die "'$tool' not found"
done

# the prebuilt shared libraries that get copied next to the binary
mapfile -t PREBUILT_LIBS < <(cd "$PREBUILT" && ls -1 -- *.so | LC_ALL=C sort)
[[ ${#PREBUILT_LIBS[@]} -gt 0 ]] || die "no .so files in $PREBUILT"

# ---------------------------------------------------------------------------
# up-to-date check
# ---------------------------------------------------------------------------
stamp_content() {
    echo "bundle $(sha256sum "$BUNDLE" | cut -d' ' -f1)"
    (cd "$PREBUILT" && sha256sum -- "${PREBUILT_LIBS[@]}" _nlcBuildMetadata.json 2>/dev/null) | sed 's/^/prebuilt /'
    echo "cmake $(sha256sum "$HELPER_CMAKE" | cut -d' ' -f1)"
    echo "script $(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)"
    echo "opt $OPT"
}
WANT_STAMP="$(stamp_content)"

if [[ -x "$BIN_DIR/llama-server" && -f "$STAMP" ]] && [[ "$(cat "$STAMP")" == "$WANT_STAMP" ]]; then
    echo "llama-server is up to date ($BIN_DIR/llama-server)"
    exit 0
fi

START=$(date +%s)

# ---------------------------------------------------------------------------
# sources: clone the bundle (re-clone only if the commit differs)
# ---------------------------------------------------------------------------
BUNDLE_COMMIT="$(git bundle list-heads "$BUNDLE" | awk '$2 == "HEAD" {print $1; exit}')"
[[ -n "$BUNDLE_COMMIT" ]] || BUNDLE_COMMIT="$(git bundle list-heads "$BUNDLE" | awk 'NR == 1 {print $1}')"
[[ -n "$BUNDLE_COMMIT" ]] || die "cannot read the commit of $BUNDLE"

SRC_COMMIT=""
if [[ -d "$SRC_DIR/.git" ]]; then
    SRC_COMMIT="$(git -C "$SRC_DIR" rev-parse HEAD 2>/dev/null || true)"
fi
if [[ "$SRC_COMMIT" != "$BUNDLE_COMMIT" ]] || [[ -n "$(git -C "$SRC_DIR" status --porcelain 2>/dev/null || echo dirty)" ]]; then
    echo "==> cloning llama.cpp bundle ($BUNDLE_COMMIT) into $SRC_DIR"
    rm -rf "$SRC_DIR" "$BUILD_DIR"
    git -c advice.detachedHead=false clone -q "$BUNDLE" "$SRC_DIR"
    git -C "$SRC_DIR" -c advice.detachedHead=false checkout -q "$BUNDLE_COMMIT"
else
    echo "==> sources already at $BUNDLE_COMMIT"
fi

# ---------------------------------------------------------------------------
# prebuilt libraries -> OUT_DIR/bin (linked against there; found via $ORIGIN)
# ---------------------------------------------------------------------------
rm -f "$STAMP"
mkdir -p "$BIN_DIR"
rm -f "$BIN_DIR"/*.so "$BIN_DIR/llama-server"
for lib in "${PREBUILT_LIBS[@]}"; do
    cp -p "$PREBUILT/$lib" "$BIN_DIR/$lib"
done

# ---------------------------------------------------------------------------
# configure + build
# ---------------------------------------------------------------------------
GENERATOR="Unix Makefiles"
if command -v ninja >/dev/null; then GENERATOR="Ninja"; fi
# start from scratch if the build dir belongs to another source dir or generator
if [[ -f "$BUILD_DIR/CMakeCache.txt" ]] && { ! grep -qxF "LLAMA_SRC:PATH=$SRC_DIR" "$BUILD_DIR/CMakeCache.txt" ||
                                             ! grep -qxF "CMAKE_GENERATOR:INTERNAL=$GENERATOR" "$BUILD_DIR/CMakeCache.txt"; }; then
    rm -rf "$BUILD_DIR"
fi

echo "==> configuring ($BUILD_DIR)"
cmake -S "$SCRIPT_DIR/llama-server" -B "$BUILD_DIR" -G "$GENERATOR" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_FLAGS_RELEASE="$OPT -DNDEBUG" \
    -DCMAKE_CXX_FLAGS_RELEASE="$OPT -DNDEBUG" \
    -DLLAMA_SRC:PATH="$SRC_DIR" \
    -DPREBUILT_DIR:PATH="$BIN_DIR" >/dev/null

echo "==> building llama-server with $JOBS jobs"
cmake --build "$BUILD_DIR" --target llama-server -j "$JOBS"

cp -p "$BUILD_DIR/llama-server" "$BIN_DIR/llama-server.tmp"
mv -f "$BIN_DIR/llama-server.tmp" "$BIN_DIR/llama-server"

# smoke test: the binary must load all its libraries and run
if ! "$BIN_DIR/llama-server" --version >/dev/null 2>&1; then
    "$BIN_DIR/llama-server" --version || true
    die "built llama-server does not run"
fi

printf '%s\n' "$WANT_STAMP" > "$STAMP"

END=$(date +%s)
echo "==> built $BIN_DIR/llama-server"
"$BIN_DIR/llama-server" --version 2>&1 | sed 's/^/    /'
echo "llama-server build time: $((END - START))s"
