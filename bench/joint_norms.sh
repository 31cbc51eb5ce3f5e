#!/bin/sh
# joint_norms.sh — joint autoencoder + latent diffusion: the four latent
# normalizations (issue 6). Long (about two minutes per variant), so not
# named bench_* and not part of `make bench`.
#
# Trains each variant's configs/VARIANT-tiny.conf on the embedded corpus
# (Brown, vocab 4096) on 2 ranks for the same budget, then prints a markdown
# table at fixed steps of the logged terms and metrics (each the mean over
# the WINDOW steps ending there, rank 0's micro-batches for the metrics):
#   ce   reconstruction CE of Dec(x0_hat) at a random t (the AE loss; for
#        separate in stage 1: Dec of the lightly noised latent)
#   acc  token accuracy of that reconstruction
#   dif  diffusion loss ||x0 - x0_hat||^2 per coordinate
#   e_rms, x0_std  encoder output RMS; per-feature std of the normalized x0
#        (averaged over features): x0_std -> 0 means collapsed latents
# and SAMPLES texts per variant from duet-sample (DDIM, eta 0, fixed seed).
#
#   sh bench/joint_norms.sh
#   VARIANTS="joint1-data separate-data" STEPS=300 sh bench/joint_norms.sh
set -eu
BUILD=${DUET_BUILD:-build}
BIN=$BUILD/bin
W=${JOINT_DIR:-build/joint_norms}
VARIANTS=${VARIANTS:-"joint1-sphere joint1-layer joint1-batch joint1-data joint2-data separate-data"}
STEPS=${STEPS:-300}
AT=${AT:-"50 100 200 300"} # table rows: steps (<= STEPS)
WINDOW=${WINDOW:-20}
SAMPLES=${SAMPLES:-3}
SAMPLE_STEPS=${SAMPLE_STEPS:-100}
SEED=${SEED:-11}
mkdir -p "$W"

if [ ! -f "$W/tok.bin" ]; then
    "$BIN/duet-prep" tokenizer input=shards/brown-train.txt.gz vocab_size=4096 \
        tokenizer="$W/tok.bin" >/dev/null 2>&1
    "$BIN/duet-prep" shards input=shards/brown-train.txt.gz tokenizer="$W/tok.bin" \
        out_dir="$W/data" num_shards=2 >/dev/null 2>&1
fi

# mean of field $2 over steps ($3 - WINDOW, $3] of train.jsonl $1 (step is 0-based)
window_mean() {
    awk -v f="\"$2\":" -v hi="$3" -v w="$WINDOW" '
        { s = $0; sub(/^\{"step":/, "", s); step = s + 0
          if (step < hi - w || step >= hi) next
          i = index($0, f); if (!i) next
          v = substr($0, i + length(f)); sub(/[,}].*/, "", v); sum += v; n++ }
        END { if (n) printf "%.4g", sum / n; else printf "-" }' "$1"
}

echo "| variant | step | ce | acc | dif | e_rms | x0_std | s/step |"
echo "|---|---|---|---|---|---|---|---|"
for v in $VARIANTS; do
    run=$W/$v
    if [ ! -f "$run/done" ]; then
        rm -rf "$run"
        launch/duet-mpirun.sh -np 2 "$BIN/duet-train" "configs/$v-tiny.conf" \
            tokenizer="$W/tok.bin" train_data="$W/data/train" run_dir="$run" steps="$STEPS" \
            resume=none log_every_s=30 >"$W/$v.log" 2>&1 || { tail -n 20 "$W/$v.log" >&2; exit 1; }
        touch "$run/done"
    fi
    log=$run/train.jsonl
    for s in $AT; do
        echo "| $v | $s | $(window_mean "$log" ce "$s") | $(window_mean "$log" acc "$s") |" \
            "$(window_mean "$log" dif "$s") | $(window_mean "$log" e_rms "$s") |" \
            "$(window_mean "$log" x0_std "$s") | $(window_mean "$log" t_step "$s") |"
    done
done

echo
echo "Samples (DDIM, eta 0, $SAMPLE_STEPS steps, seed $SEED, EMA weights):"
for v in $VARIANTS; do
    ck=$(ls "$W/$v"/ckpt_*.duet | tail -n 1)
    echo
    echo "$v:"
    "$BIN/duet-sample" ckpt="$ck" n_samples="$SAMPLES" sample_steps="$SAMPLE_STEPS" seed="$SEED" \
        latent_sampler=ddim ddim_eta=0 2>/dev/null | sed 's/^/    /'
done
