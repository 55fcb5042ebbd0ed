#!/bin/sh
# Installs what the editor tests need: Neovim (Debian's `neovim`, 0.7+) for test/editor/neovim.test,
# and the VS Code extension's packages (vscode-languageclient, @vscode/vsce) for the .vsix build.
# Idempotent; a failure only makes those tests pending (they say why), never fails CI by itself.
set -u
cd "$(dirname "$0")/.."
if ! command -v nvim >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; fi
    $SUDO apt-get install -y -q neovim >/dev/null 2>&1 || {
      $SUDO apt-get update -q >/dev/null 2>&1
      $SUDO apt-get install -y -q neovim >/dev/null 2>&1 || echo "install-editor-deps: apt-get install neovim failed; the Neovim test will be pending." >&2
    }
  else
    echo "install-editor-deps: no apt-get; install Neovim (0.7+) by hand for the Neovim test." >&2
  fi
fi
if command -v npm >/dev/null 2>&1; then
  (cd editors/vscode && npm ci --no-audit --no-fund >/dev/null 2>&1) || echo "install-editor-deps: npm ci in editors/vscode failed; the .vsix test will be pending." >&2
fi
exit 0
