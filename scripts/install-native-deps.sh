#!/bin/sh
# Installs what scripts/build-native.mjs needs for ldmc's optional native kernels: g++ and oneDNN
# (Debian/Ubuntu: libdnnl-dev). Idempotent; a failure only means the runtime runs without them.
set -u
[ -f /usr/include/dnnl.hpp ] && command -v g++ >/dev/null 2>&1 && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-native-deps: no apt-get; install oneDNN's headers and library (dnnl.hpp, libdnnl) by hand." >&2
  exit 0
fi
SUDO=
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "install-native-deps: need root to apt-get install libdnnl-dev g++ (no sudo)." >&2
    exit 0
  fi
fi
$SUDO apt-get install -y -q libdnnl-dev g++ >/dev/null 2>&1 || {
  $SUDO apt-get update -q >/dev/null 2>&1
  $SUDO apt-get install -y -q libdnnl-dev g++ >/dev/null 2>&1 || echo "install-native-deps: apt-get install libdnnl-dev g++ failed; the runtime will use tfjs's own kernels." >&2
}
exit 0
