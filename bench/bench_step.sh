#!/bin/sh
# One training step (forward + backward + clip + AdamW) of the same
# bidirectional model in duet (step_bench, objective mdlm) and in PyTorch
# (bench/torch_ref.py, Debian's python3-torch), side by side in one run for
# each model size and thread count, then their tokens/s ratio. JSON lines.
#   DUET_BUILD    build directory (default build)
#   STEP_THREADS  thread counts (default "1 2 2x1"; 2x1 = two single-thread
#                 processes at once, tokens/s summed: the data-parallel use
#                 of two cores without the allreduce)
#   STEP_MODELS   "d:layers:heads" list (default "256:4:4 512:8:8"); seq 128,
#                 batch 16, vocab 4096
#   STEP_WARMUP, STEP_STEPS  untimed / timed steps (default 2 / 5)
set -eu
B=${DUET_BUILD:-build}
BIN=$B/bench/step_bench
[ -x "$BIN" ] || { echo "bench_step: missing $BIN (run make bench)" >&2; exit 1; }
here=$(dirname "$0")
WARM=${STEP_WARMUP:-2}
STEPS=${STEP_STEPS:-5}
# Debian's torch is installed for Debian's python3, not a pyenv one on PATH.
PY=/usr/bin/python3
HAVE_TORCH=0
if [ -x "$PY" ] && "$PY" -c 'import torch' > /dev/null 2>&1; then
  HAVE_TORCH=1
else
  echo '{"bench": "step", "note": "python3-torch not found for /usr/bin/python3: PyTorch comparison skipped (apt-get install python3-torch)"}'
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/duet-bench-step.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

for model in ${STEP_MODELS:-256:4:4 512:8:8}; do
  d=${model%%:*}; rest=${model#*:}; layers=${rest%%:*}; heads=${rest#*:}
  for th in ${STEP_THREADS:-1 2 2x1}; do
    n=1; t=$th
    case "$th" in *x*) n=${th%%x*}; t=${th#*x} ;; esac
    tag=""  # labels each line of an N x T run with "threads": "NxT"
    [ "$n" = 1 ] || tag="s/\"threads\": $t,/\"threads\": \"$th\",/"
    # OMP_WAIT_POLICY=passive: idle OpenMP workers sleep instead of spinning
    # against the OpenBLAS threads between parallel regions.
    i=0
    while [ "$i" -lt "$n" ]; do
      OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} "$BIN" dim="$d" n_layer="$layers" \
        n_head="$heads" seq_len=128 batch_size=16 vocab=4096 threads="$t" warmup="$WARM" \
        steps="$STEPS" > "$TMP/duet$i" &
      i=$((i + 1))
    done
    wait
    i=0
    while [ "$i" -lt "$n" ]; do
      sed "$tag" "$TMP/duet$i"; i=$((i + 1))
    done
    [ "$HAVE_TORCH" = 1 ] || continue
    i=0
    while [ "$i" -lt "$n" ]; do
      "$PY" "$here/torch_ref.py" --d "$d" --layers "$layers" --heads "$heads" --seq 128 \
        --batch 16 --vocab 4096 --threads "$t" --warmup "$WARM" --steps "$STEPS" > "$TMP/torch$i" &
      i=$((i + 1))
    done
    wait
    i=0
    while [ "$i" -lt "$n" ]; do
      sed "s/^{/{\"bench\": \"step\", \"impl\": \"torch\", /; $tag" "$TMP/torch$i"
      i=$((i + 1))
    done
    a=$(cat "$TMP"/duet[0-9]* | sed -n 's/.*"tokens_per_s": \([0-9.]*\).*/\1/p' | awk '{s += $1} END {print s}')
    b=$(cat "$TMP"/torch[0-9]* | sed -n 's/.*"tokens_per_s": \([0-9.]*\).*/\1/p' | awk '{s += $1} END {print s}')
    awk -v d="$d" -v l="$layers" -v th="$th" -v a="$a" -v b="$b" \
      'BEGIN {printf "{\"bench\": \"step_ratio\", \"d\": %s, \"layers\": %s, \"threads\": \"%s\", \"duet_tokens_per_s\": %s, \"torch_tokens_per_s\": %s, \"duet_over_torch\": %.3f}\n", d, l, th, a, b, a / b}'
    rm -f "$TMP"/duet[0-9]* "$TMP"/torch[0-9]*
  done
done
