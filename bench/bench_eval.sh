#!/bin/sh
# Evaluation metrics on synthetic data (bench/eval_bench.c): 1,000 texts of
# ~100 words, a 20,000-text Mem corpus, MAUVE on 2 x 1,000 x 256 features.
# MAUVE is the only multithreaded metric: run on 1 and 2 threads.
set -e
BIN="${DUET_BUILD:-build}/bench/eval_bench"
for t in 1 2; do
    OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$BIN"
done
