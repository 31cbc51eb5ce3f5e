#!/bin/sh
# demo.sh BUILD_DIR OUT_DIR — what `make demo` runs after building:
# prepare the embedded Brown corpus, train a tiny masked-diffusion model on
# 2 ranks, and print samples from its checkpoint.
set -eu
BUILD=${1:-build}
OUT=${2:-build/demo}
BIN=$BUILD/bin
mkdir -p "$OUT"

echo "== 1/4 tokenizer: byte-level BPE, 4096 tokens, on shards/brown-train.txt.gz"
"$BIN/duet-prep" tokenizer input=shards/brown-train.txt.gz vocab_size=4096 \
    tokenizer="$OUT/tokenizer.bin"

echo "== 2/4 shards"
"$BIN/duet-prep" shards input=shards/brown-train.txt.gz val_input=shards/brown-valid.txt.gz \
    tokenizer="$OUT/tokenizer.bin" out_dir="$OUT/data" num_shards=2
"$BIN/duet-prep" stats "$OUT/data"

echo "== 3/4 train: mdlm on 2 ranks (configs/mdlm-tiny.conf, 300 steps: under a minute on 2 idle cores)"
rm -rf "$OUT/run"
launch/duet-mpirun.sh -np 2 "$BIN/duet-train" configs/mdlm-tiny.conf \
    tokenizer="$OUT/tokenizer.bin" train_data="$OUT/data/train" val_data="$OUT/data/val" \
    run_dir="$OUT/run" resume=none

ckpt=$(ls "$OUT"/run/ckpt_*.duet | tail -n 1)
echo "== 4/4 samples from $ckpt (16 denoising steps)"
"$BIN/duet-sample" ckpt="$ckpt" n_samples=5 sample_steps=16 seed=7
echo "== done: checkpoint $ckpt, log $OUT/run/train.jsonl"
