#!/bin/sh
# vq_sweep.sh — issue 7 evidence: the two-level discrete latent pipeline at
# several compression ratios (not part of `make bench`: it trains models).
#
# For each (K1, K2) in PAIRS it trains configs/vqae-tiny.conf with those
# strides for STEPS steps on the embedded Brown corpus (1 rank), then
# bench/vq_recon measures reconstruction on N_SEQ held-out windows. For each
# pair in LM_PAIRS it also trains configs/vqlm-tiny.conf on the frozen codes
# and draws N samples from noise with duet-sample (S top + S_b bottom
# denoiser evaluations each). Prints a markdown table and the samples.
#
#   sh bench/vq_sweep.sh
#   PAIRS="2,8" LM_PAIRS="2,8" STEPS=100 sh bench/vq_sweep.sh
#
# About 2 minutes per training on a loaded 2-core machine.
set -eu
BUILD=${DUET_BUILD:-build}
BIN=$BUILD/bin
W=${SWEEP_DIR:-build/vq_sweep}
PAIRS=${PAIRS:-"2,4 2,8 4,8 4,16"}
LM_PAIRS=${LM_PAIRS:-"2,8 4,16"}
STEPS=${STEPS:-150}
LM_STEPS=${LM_STEPS:-300}
N_SEQ=${N_SEQ:-256}
N=${N:-4}
SAMPLE_STEPS=${SAMPLE_STEPS:-8}
BOTTOM_STEPS=${BOTTOM_STEPS:-8}
SEED=${SEED:-11}
mkdir -p "$W"
say() { echo "[vq_sweep] $*" >&2; }

make -s "BUILD=$BUILD" "$BUILD/bench/vq_recon" >&2
if [ ! -f "$W/tok.bin" ]; then
    "$BIN/duet-prep" tokenizer input=shards/brown-train.txt.gz vocab_size=4096 tokenizer="$W/tok.bin"
    "$BIN/duet-prep" shards input=shards/brown-train.txt.gz val_input=shards/brown-valid.txt.gz \
        tokenizer="$W/tok.bin" out_dir="$W/data" num_shards=2
fi
DATA="tokenizer=$W/tok.bin train_data=$W/data/train"

train() { # run_name config [keys...]; prints the last checkpoint, wall seconds in $W/NAME.secs
    name=$1
    shift
    if [ ! -f "$W/$name/done" ]; then
        say "training $name"
        t0=$(date +%s)
        launch/duet-mpirun.sh -np 1 "$BIN/duet-train" "$@" $DATA run_dir="$W/$name" resume=none \
            log_every_s=30 >"$W/$name.log" 2>&1 || { tail -n 20 "$W/$name.log" >&2; exit 1; }
        echo $(($(date +%s) - t0)) > "$W/$name.secs"
        touch "$W/$name/done"
    fi
    ls "$W/$name"/ckpt_*.duet | tail -n 1
}

# the last value of a metric in a training log
last() { grep "\"$2\"" "$1" | tail -n 1 | sed "s/.*\"$2\":\([^,}]*\).*/\1/"; }
# a field of vq_recon's JSON line
field() { sed "s/.*\"$2\":\([^,}]*\).*/\1/" "$1"; }

TABLE=$W/table.md
{
    echo "| K1 | K2 | tokens/code (Lb + Lt codes per 64 tokens) | code bits / token | token acc (held-out) | repeat rate recon / input | top ppl (train) | top dead (train) | top used / Kt (held-out) | bottom ppl (train) | bottom dead (train) | bottom used / Kb (held-out) | train s |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
} > "$TABLE"
for p in $PAIRS; do
    k1=${p%,*} k2=${p#*,}
    name=ae_${k1}_$k2
    ck=$(train "$name" configs/vqae-tiny.conf vq_k1="$k1" vq_k2="$k2" steps="$STEPS")
    "$BUILD/bench/vq_recon" "$ck" "$W/data/val" "$N_SEQ" 2 > "$W/$name.recon.json" 2> "$W/$name.recon.txt"
    j=$W/$name.recon.json
    log=$W/$name/train.jsonl
    awk -v k1="$k1" -v k2="$k2" -v kt="$(field "$j" Kt)" -v kb="$(field "$j" Kb)" 'BEGIN {
        printf "| %d | %d | %.2f (%d + %d) | %.2f |", k1, k2, 64 / (64 / k1 + 64 / k2), 64 / k1,
            64 / k2, log(kb) / log(2) / k1 + log(kt) / log(2) / k2 }' >> "$TABLE"
    printf ' %s | %s / %s | %.1f | %s | %s / %s | %.1f | %s | %s / %s | %s |\n' "$(field "$j" token_acc)" \
        "$(field "$j" repeat_rate_recon)" "$(field "$j" repeat_rate_input)" "$(last "$log" ppl_t)" \
        "$(last "$log" dead_t)" "$(field "$j" used_t)" "$(field "$j" Kt)" "$(last "$log" ppl_b)" \
        "$(last "$log" dead_b)" "$(field "$j" used_b)" "$(field "$j" Kb)" "$(cat "$W/$name.secs")" >> "$TABLE"
    say "$(tail -n 1 "$TABLE")"
done
cat "$TABLE"

for p in $LM_PAIRS; do
    k1=${p%,*} k2=${p#*,}
    ae=$(train "ae_${k1}_$k2" configs/vqae-tiny.conf vq_k1="$k1" vq_k2="$k2" steps="$STEPS")
    ck=$(train "lm_${k1}_$k2" configs/vqlm-tiny.conf vq_ckpt="$ae" steps="$LM_STEPS")
    out=$W/lm_${k1}_$k2.samples.txt
    "$BIN/duet-sample" ckpt="$ck" n_samples="$N" sample_steps="$SAMPLE_STEPS" \
        vq_bottom_steps="$BOTTOM_STEPS" seed="$SEED" output="$out" 2> "$W/lm_${k1}_$k2.sample.log"
    echo
    echo "K1=$k1 K2=$k2: vqlm $LM_STEPS steps ($(cat "$W/lm_${k1}_$k2.secs") s), final loss" \
        "$(last "$W/lm_${k1}_$k2/train.jsonl" loss);" \
        "$(sed -n 's/.* \([0-9.]*\) network evaluations per sample.*/\1/p' "$W/lm_${k1}_$k2.sample.log")" \
        "denoiser evaluations per sample (sample_steps=$SAMPLE_STEPS + vq_bottom_steps=$BOTTOM_STEPS)"
    echo
    sed 's/^/    /' "$out"
done
