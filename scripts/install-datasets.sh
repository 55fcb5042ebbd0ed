#!/bin/sh
# Installs the datasets ldmc's data tests and small examples use, when missing:
#   Debian's dataset-fashion-mnist → /usr/share/datasets/fashion-mnist/*-ubyte.gz
# Idempotent and quiet on success; says what failed otherwise. Needs root (or sudo) to install.
set -eu

FMNIST_DIR=/usr/share/datasets/fashion-mnist
FMNIST_FILES="train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz"

have_fmnist() {
  for f in $FMNIST_FILES; do
    [ -s "$FMNIST_DIR/$f" ] || return 1
  done
  return 0
}

have_fmnist && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-datasets: $FMNIST_DIR is missing and apt-get is not available (not Debian/Ubuntu)." >&2
  echo "  Put the four Fashion-MNIST IDX files there, or set the dataset's root param." >&2
  exit 1
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo -n"
  else
    echo "install-datasets: need root to install dataset-fashion-mnist (no sudo found)." >&2
    exit 1
  fi
fi

LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
install_pkg() {
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q dataset-fashion-mnist >>"$LOG" 2>&1
}

if ! install_pkg; then
  # The package lists may be stale or empty (fresh containers): update and try once more.
  if ! { DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -q >>"$LOG" 2>&1 && install_pkg; }; then
    cat "$LOG" >&2
    echo "install-datasets: could not install dataset-fashion-mnist (see above)." >&2
    exit 1
  fi
fi

if ! have_fmnist; then
  echo "install-datasets: dataset-fashion-mnist is installed but $FMNIST_DIR lacks its files." >&2
  exit 1
fi
