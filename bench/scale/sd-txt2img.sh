#!/usr/bin/env bash
# Stable Diffusion at full size, ldmc against the reference's PyTorch (bench/torch_sd.py), on 2 threads each.
# Every model run takes the big-job lock (flock /tmp/ldmc-big.lock). See bench/scale/README.md.
#
#   bench/scale/sd-txt2img.sh make                 the four weight files in $BIG, if missing
#   bench/scale/sd-txt2img.sh components [v1 v2]   one UNet forward (batch 2, 32×32 latent) and the text embedding
#                                                  of the prompt and '' from each weights file (.ckpt f32 and
#                                                  .safetensors f16): torch_sd.py against `ldmc forward`
#   bench/scale/sd-txt2img.sh equal [v1 v2]        txt2img with the same start code x_T ($EQ_H×$EQ_W, $EQ_STEPS
#                                                  steps): torch_sd.py against `ldmc txt2img --x-T`, from both files
#                                                  (PNG pixels), and against sd-ldmc-dump.mjs (the same process
#                                                  through the runtime API: latent, image before clamping)
#   bench/scale/sd-txt2img.sh time [ROUNDS]        512×512, 20 DDIM steps, scale 7.5, v1 .ckpt, batch 1 with CFG:
#                                                  whole-process wall time and peak RSS (/usr/bin/time), ldmc and
#                                                  torch alternated ROUNDS times (default 2); medians
# Environment: BIG (default /work/bigdata), OUT (default /tmp/ldmc-sd-bench), PROMPT, EQ_H/EQ_W (256), EQ_STEPS (5),
#   TIME_STEPS (20), TIME_SIZE (512), LDMC_ARGS (extra `ldmc txt2img` options), THREADS (2), LDMC_ROOT (the ldmc
#   checkout whose bin/ldmc.js runs; default this one).
# Each comparison prints one JSON line: max |ldmc - torch| per tensor (and max |torch| for scale), or of the PNG pixels.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIG=${BIG:-/work/bigdata}
OUT=${OUT:-/tmp/ldmc-sd-bench}
PROMPT=${PROMPT:-a photograph of an astronaut riding a horse}
THREADS=${THREADS:-2}
EQ_H=${EQ_H:-256}; EQ_W=${EQ_W:-256}; EQ_STEPS=${EQ_STEPS:-5}
TIME_STEPS=${TIME_STEPS:-20}; TIME_SIZE=${TIME_SIZE:-512}
LOCK=/tmp/ldmc-big.lock
mkdir -p "$OUT" "$BIG"
PY=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/torch_sd.py)
# LDMC_ROOT: the ldmc checkout to run (default this one); its bench/scale/sd-tokens-shim.mjs gives `ldmc txt2img`
# the prompts' ids where that build has no tokenizer yet (a no-op once it has one)
LDMC_ROOT=$(cd "${LDMC_ROOT:-.}" && pwd)
LDMC=(node --import "file://$LDMC_ROOT/bench/scale/sd-tokens-shim.mjs" "$LDMC_ROOT/bin/ldmc.js")
export LDMC_BENCH_TOKENS="$OUT/tokens.json"
"${PY[@]}" tokens "$LDMC_BENCH_TOKENS" --prompt "$PROMPT"
config() { case $1 in v1) echo examples/sd-v1-inference.yaml ;; v2) echo examples/sd-v2-inference-v.yaml ;; esac; }
weights() { echo "$BIG/sd-$1.ckpt" "$BIG/sd-$1-f16.safetensors"; }
# timed LABEL CMD...: the command under the lock and /usr/bin/time; its stdout+stderr in $OUT/LABEL.log, then
# one line "LABEL wall_s rss_kb" appended to $OUT/times.txt
timed() {
  local label=$1; shift
  flock "$LOCK" /usr/bin/time -f "%e %M" -o "$OUT/$label.time" "$@" > "$OUT/$label.log" 2>&1 || { echo "$label FAILED (see $OUT/$label.log):"; tail -5 "$OUT/$label.log"; return 1; }
  read -r wall rss < <(tail -1 "$OUT/$label.time")
  echo "$label $wall $rss" | tee -a "$OUT/times.txt"
}

make_weights() {
  for k in v1 v2; do
    read -r ckpt st < <(weights $k)
    if [[ -f $ckpt && -f $st ]]; then echo "have $ckpt, $st"; continue; fi
    flock "$LOCK" "${PY[@]}" make-ckpt $k "$ckpt" --safetensors-f16 "$st"
  done
}

components() {
  local ks=("$@"); ((${#ks[@]})) || ks=(v1 v2)
  for k in "${ks[@]}"; do
    for w in $(weights $k); do
      local tag="$k-$(basename "$w" | sed 's/.*\.//')"
      "${PY[@]}" unet-inputs $k "$OUT/unet-in-$k.safetensors" --size 32
      timed "unet-torch-$tag" "${PY[@]}" unet-fwd $k "$w" "$OUT/unet-in-$k.safetensors" "$OUT/unet-torch-$tag.safetensors" --threads "$THREADS"
      timed "unet-ldmc-$tag" "${LDMC[@]}" forward "$(config $k)" --component unet --weights "$w" --inputs "$OUT/unet-in-$k.safetensors" --out "$OUT/unet-ldmc-$tag.safetensors"
      echo "unet $tag: $("${PY[@]}" compare "$OUT/unet-ldmc-$tag.safetensors" "$OUT/unet-torch-$tag.safetensors" out)"
      timed "text-torch-$tag" "${PY[@]}" text-embed $k "$w" "$OUT/text-torch-$tag.safetensors" --prompt "$PROMPT" --threads "$THREADS"
      timed "text-ldmc-$tag" "${LDMC[@]}" forward "$(config $k)" --component cond_stage --weights "$w" --inputs "$OUT/text-torch-$tag.safetensors" --out "$OUT/text-ldmc-$tag.safetensors"
      echo "text $tag: $("${PY[@]}" compare "$OUT/text-ldmc-$tag.safetensors" "$OUT/text-torch-$tag.safetensors" out)"
    done
  done
}

equal() {
  local ks=("$@"); ((${#ks[@]})) || ks=(v1 v2)
  for k in "${ks[@]}"; do
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 -c "
import sys, torch; sys.path.insert(0, 'bench'); from torch_sd import write_safetensors
g = torch.Generator().manual_seed(1234)
write_safetensors('$OUT/x_T-$EQ_H.safetensors', {'x_T': torch.randn(1, 4, $EQ_H // 8, $EQ_W // 8, generator=g)}, lambda k: torch.float32)"
    for w in $(weights $k); do
      local tag="$k-$(basename "$w" | sed 's/.*\.//')-${EQ_H}x${EQ_W}-s$EQ_STEPS"
      local common=(--prompt "$PROMPT" --steps "$EQ_STEPS" --scale 7.5 --H "$EQ_H" --W "$EQ_W" --x-T "$OUT/x_T-$EQ_H.safetensors")
      timed "t2i-torch-$tag" "${PY[@]}" txt2img $k "$w" "${common[@]}" --out "$OUT/t2i-torch-$tag.png" --dump "$OUT/t2i-torch-$tag.safetensors" --threads "$THREADS"
      timed "t2i-ldmc-$tag" "${LDMC[@]}" txt2img "$(config $k)" --ckpt "$w" "${common[@]}" --sampler ddim --threads "$THREADS" --out "$OUT/t2i-ldmc-$tag.png" ${LDMC_ARGS:-} || continue
      echo "txt2img $tag image: $("${PY[@]}" compare-png "$OUT/t2i-ldmc-$tag.png" "$OUT/t2i-torch-$tag.png")"
      # the final latent and the decoded image before clamping: the same process through the runtime API
      timed "t2i-ldmc-dump-$tag" node "$LDMC_ROOT/bench/scale/sd-ldmc-dump.mjs" "$(config $k)" "$w" "$OUT/x_T-$EQ_H.safetensors" "$OUT/t2i-ldmc-$tag.safetensors" --prompt "$PROMPT" --steps "$EQ_STEPS" --scale 7.5 || continue
      echo "txt2img $tag tensors: $("${PY[@]}" compare "$OUT/t2i-ldmc-$tag.safetensors" "$OUT/t2i-torch-$tag.safetensors" c uc samples image)"
    done
  done
}

time_runs() {
  local rounds=${1:-2} w="$BIG/sd-v1.ckpt" s=$TIME_SIZE run; run=$(date +%Y%m%d-%H%M%S)
  local common=(--prompt "$PROMPT" --steps "$TIME_STEPS" --scale 7.5 --H "$s" --W "$s" --seed 42)
  echo "# load at start: $(cat /proc/loadavg)" | tee -a "$OUT/times.txt"
  for ((i = 1; i <= rounds; i++)); do
    timed "time-ldmc-$run-$i" "${LDMC[@]}" txt2img "$(config v1)" --ckpt "$w" "${common[@]}" --sampler ddim --threads "$THREADS" --out "$OUT/time-ldmc-$run-$i.png" ${LDMC_ARGS:-} || true
    timed "time-torch-$run-$i" "${PY[@]}" txt2img v1 "$w" "${common[@]}" --threads "$THREADS" --out "$OUT/time-torch-$run-$i.png"
    tail -1 "$OUT/time-torch-$run-$i.log"
    echo "# load: $(cat /proc/loadavg)" | tee -a "$OUT/times.txt"
  done
  # medians of this invocation's runs (wall s, peak RSS from /usr/bin/time's %M KB)
  tail -n $((3 * rounds + 1)) "$OUT/times.txt" | python3 -c '
import sys, statistics
runs = {}
for l in sys.stdin:
    f = l.split()
    if len(f) == 3 and f[0].startswith("time-"): runs.setdefault(f[0].split("-")[1], []).append((float(f[1]), int(f[2])))
for side, r in runs.items():
    w = [x[0] for x in r]
    print(f"{side}: {len(r)} runs, median wall {statistics.median(w):.1f} s (all: {w}), peak RSS max {max(x[1] for x in r) / 1024:.0f} MiB")
'
}

case ${1:-} in
  make) make_weights ;;
  components) shift; components "$@" ;;
  equal) shift; equal "$@" ;;
  time) shift; time_runs "$@" ;;
  *) sed -n '2,17p' "$0"; exit 2 ;;
esac
