#!/usr/bin/env bash
# apt-install.sh WHO PACKAGE...: installs Debian packages quietly, as root or through sudo;
# nothing at all when no package is named. The setup scripts (native/cross/setup.sh,
# test/e2e/setup.sh) list what their machine lacks and pass it here; WHO prefixes the one line
# this prints.
set -euo pipefail
who=$1
shift
[ $# -gt 0 ] || exit 0
echo "$who: apt-get install $*"
sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "$@" >/dev/null
