#!/bin/sh
# Draws docs/lsp/neovim-hints.png and docs/lsp/neovim-hover.png (and their .txt): Neovim in tmux with
# `ldmc lsp` on a copy of celeba256 with a wrong in_channels, first with the diagnostics and the
# inlay hints, then with the hover on the UNet's target. Needs nvim, tmux and ImageMagick.
# Run from the repository root after a build: sh docs/lsp/screenshot.sh
set -eu
root=$(pwd)
dir=$(mktemp -d)
sed '0,/in_channels: 3/s//in_channels: 4/' examples/celeba256.yaml > "$dir/celeba256.yaml"
tmux kill-session -t ldmc-shot 2>/dev/null || true
tmux new-session -d -s ldmc-shot -x 150 -y 34 \
  "cd $dir && LDMC_BIN=$root/bin/ldmc.js nvim -u NONE -i NONE -n -c 'set number' -c 'luafile $root/docs/lsp/screenshot.lua' celeba256.yaml"
sleep 3
tmux capture-pane -p -t ldmc-shot > docs/lsp/neovim-hints.txt
sleep 4
tmux capture-pane -p -t ldmc-shot > docs/lsp/neovim-hover.txt
tmux kill-session -t ldmc-shot
for f in neovim-hints neovim-hover; do
  # The status line is left out: ImageMagick reads its % as an escape.
  /usr/bin/convert -size 1400x640 xc:'#1a1b26' -fill '#c0caf5' -font DejaVu-Sans-Mono -pointsize 14 \
    -annotate +10+20 "$(grep -v '^celeba256.yaml ' docs/lsp/$f.txt)" docs/lsp/$f.png
done
rm -rf "$dir"
