#!/bin/sh
# The celeba256 training step at batch 2 (Adam, EMA; over the wasm heap, so on the cpu backend with
# the native kernels): image-folder data, the VQ-f4 first stage from a torch-made .ckpt, a
# checkpoint written at the end. Prints per-line timestamps, then wall time and peak RSS.
# Make the inputs first (bench/scale/README.md): $BIG/images256 and $BIG/vq-f4.ckpt.
# Usage: bench/scale/train-celeba256.sh [STEPS=3] [BIG=/work/bigdata]   (run under flock /tmp/ldmc-big.lock)
STEPS=${1:-3}
BIG=${2:-/work/bigdata}
rm -rf "$BIG/run-celeba256"
exec /usr/bin/time -f "train wall %e s, peak RSS %M KB" node bench/scale/timed.mjs node bin/ldmc.js train examples/celeba256.yaml \
  --set data.params.batch_size=2 --set data.params.num_workers=0 \
  --set data.params.train.target=ldmc.data.ImageFolder --set "data.params.train.params.root=$BIG/images256" \
  --set data.params.validation.target=ldmc.data.ImageFolder --set "data.params.validation.params.root=$BIG/images256" \
  --set "model.params.first_stage_config.params.ckpt_path=$BIG/vq-f4.ckpt" \
  --max-steps "$STEPS" --val-every 100000 --val-batches 1 --ckpt-every "$STEPS" --seed 1 --run-dir "$BIG/run-celeba256"
