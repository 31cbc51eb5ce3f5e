#!/bin/sh
# bench_train.sh — data-parallel training throughput (issue 5), JSON lines.
#
# Model: the shape of bench/torch_ref.py's default (d=256, 4 layers, 4 heads,
# seq 128, vocab 4096), objective mdlm, on the embedded corpus. Runs:
#   1 rank x 1 thread (batch 16), 1 rank x 2 threads (batch 32),
#   2 ranks x 1 thread (batch 16 each = global 32), bucket sizes for 2 ranks,
#   and two single-thread PyTorch processes started together (if torch exists).
# Each line: tokens/s from the median step time (steps after warm-up),
# exposed communication share, checkpoint time and size.
#
#   sh bench/bench_train.sh            (make bench runs it)
#   STEPS=30 sh bench/bench_train.sh
set -eu
BUILD=${DUET_BUILD:-build}
STEPS=${STEPS:-20}
W=$(mktemp -d /tmp/duet-bench-train.XXXXXX)
trap 'rm -rf "$W"' EXIT

"$BUILD/bin/duet-prep" tokenizer input=shards/brown-train.txt.gz vocab_size=4096 \
    tokenizer="$W/tok.bin" >/dev/null 2>&1
"$BUILD/bin/duet-prep" shards input=shards/brown-train.txt.gz tokenizer="$W/tok.bin" \
    out_dir="$W/data" num_shards=2 >/dev/null 2>&1
cat > "$W/model.conf" <<EOF
objective = mdlm
dim = 256
n_layer = 4
n_head = 4
seq_len = 128
EOF

# median of field $2 over lines of train.jsonl after the first 3 steps
median() {
    grep '"t_step"' "$1" | sed -n "4,\$p" | sed "s/.*\"$2\":\([0-9.e+-]*\).*/\1/" | sort -g |
        awk '{a[NR]=$1} END {if (NR==0) print "null"; else print a[int((NR+1)/2)]}'
}

run() { # name ranks threads batch bucket_mb
    name=$1 np=$2 th=$3 b=$4 bucket=$5
    rm -rf "$W/run"
    launch/duet-mpirun.sh -np "$np" "$BUILD/bin/duet-train" "$W/model.conf" \
        tokenizer="$W/tok.bin" train_data="$W/data/train" run_dir="$W/run" \
        steps="$STEPS" batch_size="$b" threads="$th" bucket_mb="$bucket" ckpt_every=0 \
        log_every_s=1000 check_every=0 resume=none >"$W/out.txt" 2>&1 || {
        cat "$W/out.txt" >&2
        exit 1
    }
    step=$(median "$W/run/train.jsonl" t_step)
    comm=$(median "$W/run/train.jsonl" t_comm)
    tokens=$((np * b * 128))
    ck=$(sed -n 's/.*"detail":".*(\([0-9.]*\) s)".*/\1/p' "$W/run/train.jsonl" | tail -n 1)
    size=$(stat -c %s "$W"/run/ckpt_*.duet | tail -n 1)
    params=$(sed -n 's/.*objective mdlm, \([0-9]*\) parameters.*/\1/p' "$W/out.txt")
    awk -v n="$name" -v np="$np" -v th="$th" -v b="$b" -v bk="$bucket" -v s="$step" -v c="$comm" \
        -v t="$tokens" -v ck="$ck" -v sz="$size" -v p="$params" 'BEGIN {
        printf "{\"bench\":\"train\",\"run\":\"%s\",\"ranks\":%d,\"threads\":%d,\"batch_per_rank\":%d,", n, np, th, b
        printf "\"bucket_mb\":%s,\"params\":%s,\"step_s_median\":%.4f,\"tokens_per_s\":%.1f,", bk, p, s, t / s
        printf "\"exposed_comm_share\":%.4f,\"ckpt_write_s\":%s,\"ckpt_bytes\":%s,", c / s, ck, sz
        printf "\"ckpt_raw_bytes\":%d}\n", p * 4 * 4 }'
}

run "1x1" 1 1 16 4
run "1x2" 1 2 32 4
run "2x1" 2 1 16 4
for bk in 0.25 1 16 64; do run "2x1-bucket$bk" 2 1 16 "$bk"; done

TORCH_REF=bench/torch_ref.py
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import torch' 2>/dev/null && [ -f "$TORCH_REF" ]; then
    for i in 1 2; do
        /usr/bin/python3 "$TORCH_REF" --d 256 --layers 4 --heads 4 --seq 128 --batch 16 \
            --vocab 4096 --threads 1 --steps "$STEPS" >"$W/torch$i.json" 2>&1 &
    done
    wait
    for i in 1 2; do sed "s/^{/{\"bench\":\"train\",\"run\":\"torch-2procs-$i\",/" "$W/torch$i.json"; done
else
    echo '{"bench":"train","run":"torch","note":"python3-torch not installed: skipped"}'
fi
