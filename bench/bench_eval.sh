#!/bin/sh
# Evaluation cost, JSON lines. First the metrics alone on synthetic data
# (bench/eval_bench.c): 1,000 texts of ~100 words, a 20,000-text Mem corpus,
# MAUVE on 2 x 1,000 x 256 features; MAUVE is the only multithreaded metric:
# run on 1 and 2 threads. Then duet-eval end to end with its judge model.
set -e
BIN="${DUET_BUILD:-build}/bench/eval_bench"
for t in 1 2; do
    OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$BIN"
done

# Whole duet-eval with the judge (issue 8: 1,000 samples of ~128 tokens
# "well under a minute on 2 cores"): gen-PPL and MAUVE features under an AR
# judge of configs/ar-judge.conf's shape (4.2 M parameters; two training steps
# suffice for timing), 1,000 Brown training paragraphs cut to ~128 tokens as
# samples, the 759 Brown validation paragraphs (128-token windows) as references.
B=${DUET_BUILD:-build}
W=$(mktemp -d /tmp/duet-bench-eval.XXXXXX)
trap 'rm -rf "$W"' EXIT
"$B/bin/duet-prep" tokenizer input=shards/brown-train.txt.gz vocab_size=4096 tokenizer="$W/tok.bin" \
    >/dev/null 2>&1
"$B/bin/duet-prep" shards input=shards/brown-train.txt.gz tokenizer="$W/tok.bin" out_dir="$W/data" \
    num_shards=1 >/dev/null 2>&1
launch/duet-mpirun.sh -np 1 "$B/bin/duet-train" configs/ar-judge.conf tokenizer="$W/tok.bin" \
    train_data="$W/data/train" run_dir="$W/judge" steps=2 ckpt_every=2 resume=none >/dev/null 2>&1
gzip -dc shards/brown-train.txt.gz | head -n 1000 | cut -c1-460 >"$W/samples.txt"
gzip -dc shards/brown-valid.txt.gz >"$W/refs.txt"
for t in 1 2; do
    "$B/bin/duet-eval" samples="$W/samples.txt" references="$W/refs.txt" ref_tokens=128 \
        judge="$W/judge/ckpt_0000000002.duet" threads="$t" output="$W/eval.json" 2>/dev/null
    awk -v t="$t" '{
        n = $0; sub(/.*"n_samples": /, "", n); sub(/,.*/, "", n)
        r = $0; sub(/.*"n_references": /, "", r); sub(/,.*/, "", r)
        s = $0; sub(/.*"eval_seconds": /, "", s); sub(/[,}].*/, "", s)
        m = $0; sub(/.*"peak_rss_mb": /, "", m); sub(/[,}].*/, "", m)
        printf "{\"bench\":\"eval_judge\",\"threads\":%d,\"samples\":%s,\"references\":%s,\"seconds\":%s,\"peak_rss_mb\":%s}\n", t, n, r, s, m
    }' "$W/eval.json"
done
