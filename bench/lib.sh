# bench/lib.sh — shell pieces shared by the model benchmarks (compare.sh,
# steps_sweep.sh): Brown data, 2-rank training with a done marker, the AR
# judge, duet-eval and log parsing. Source it after setting W (work
# directory), BIN (binaries) and SEED; say() comes from the caller.

# ---- data: tokenizer, shards, held-out references (Brown valid) ----
bench_brown_data() {
    if [ ! -f "$W/tok.bin" ]; then
        "$BIN/duet-prep" tokenizer input=shards/brown-train.txt.gz vocab_size=4096 tokenizer="$W/tok.bin"
        "$BIN/duet-prep" shards input=shards/brown-train.txt.gz val_input=shards/brown-valid.txt.gz \
            tokenizer="$W/tok.bin" out_dir="$W/data" num_shards=2
    fi
    DATA="tokenizer=$W/tok.bin train_data=$W/data/train val_data=$W/data/val"
    for f in heldout:valid train:train; do # kept: concurrent runs may be reading them
        [ -f "$W/${f%%:*}.txt" ] ||
            { zcat "shards/brown-${f#*:}.txt.gz" > "$W/$f.tmp" && mv "$W/$f.tmp" "$W/${f%%:*}.txt"; }
    done
}

# Trains on 2 ranks once (a done marker skips finished runs); prints the
# last checkpoint. Data keys come from $DATA.
train() { # run_name config [keys...]
    name=$1
    shift
    if [ ! -f "$W/$name/done" ]; then
        say "training $name"
        launch/duet-mpirun.sh -np 2 "$BIN/duet-train" "$@" $DATA run_dir="$W/$name" \
            resume=none log_every_s=30 >"$W/$name.log" 2>&1 || { tail -n 20 "$W/$name.log" >&2; exit 1; }
        touch "$W/$name/done"
    fi
    ls "$W/$name"/ckpt_*.duet | tail -n 1
}

# The judge: a deeper AR model, sequences of 128 tokens (configs/ar-judge.conf);
# JUDGE_KEYS overrides its keys (e.g. a smaller, shorter-trained judge on a
# loaded machine).
bench_judge() { JUDGE=$(train judge configs/ar-judge.conf ${JUDGE_KEYS:-}); }

# tokens/s of a run: median over its log
tokens_per_s() {
    grep '"tokens_per_s"' "$1" | sed -n '4,$p' | sed 's/.*"tokens_per_s":\([0-9.e+-]*\).*/\1/' |
        sort -g | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : "null")}'
}

# Unconditional evaluation of a samples file against the held-out split:
# gen-PPL under $JUDGE, MAUVE, Div, Mem (against the training split).
eval_uncond() { # samples_file n output_json
    "$BIN/duet-eval" samples="$1" references="$W/heldout.txt" eval_max_texts="$2" \
        judge="$JUDGE" ref_tokens=64 mem_corpus="$W/train.txt" seed="$SEED" output="$3" \
        2>/dev/null
}

# A number of duet-eval's JSON output.
json_get() { sed -n "s/.*\"$2\": \([^,}]*\).*/\1/p" "$1"; }

# From duet-sample's log: denoiser evaluations per sample, and seconds.
sample_nfe() { sed -n 's/.* \([0-9.]*\) network evaluations per sample.*/\1/p' "$1"; }
sample_secs() { sed -n 's/.* in \([0-9.]*\) s, .*/\1/p' "$1"; }

# Writes a block file into bench/RESULTS.md between <!-- KEY:begin --> and
# <!-- KEY:end --> (replacing the old block), or appends it under HEADING.
results_block() { # key heading block_file
    if grep -q "<!-- $1:begin -->" bench/RESULTS.md; then
        awk -v block="$3" -v b="<!-- $1:begin -->" -v e="<!-- $1:end -->" '
            $0 == b { print; while ((getline l < block) > 0) print l; skip = 1; next }
            $0 == e { skip = 0 }
            !skip { print }' bench/RESULTS.md > "$W/results.new"
        mv "$W/results.new" bench/RESULTS.md
    else
        { echo; echo "## $2"; echo; echo "<!-- $1:begin -->"; cat "$3"; echo "<!-- $1:end -->"; } \
            >> bench/RESULTS.md
    fi
}
