# lib.sh — helpers shared by tests/integration/test_*.sh (source it; POSIX sh).
#
#   . "$(dirname "$0")/lib.sh"
#   it_setup NAME          fresh work dir $W (removed on success), bins in $B
#   it_data                tiny tokenizer + 2 train shards + val shards in $W/data
#   it_train NP ARGS...    duet-train on NP ranks (launch/duet-mpirun.sh), tiny model,
#                          killed after IT_TIMEOUT seconds (default 120: a hang fails);
#                          IT_WRAP, if set, is a command prefix for the whole launch
#   it_digest CKPT         step and digests of the training state (tests/tools/ckpt_digest)
#   it_latest RUN_DIR      newest ckpt_*.duet in RUN_DIR
#   it_fail MSG            print MSG (and the work dir) and exit 1
#   it_now / it_since T0   a timestamp / seconds elapsed since it (one decimal)
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=$ROOT/${DUET_BUILD:-build}
W=""

it_fail() {
    echo "FAIL: $*" >&2
    [ -n "$W" ] && echo "  (work dir kept: $W)" >&2
    exit 1
}

it_say() { echo "  $*"; }

it_setup() {
    W=$(mktemp -d "/tmp/duet-it-$1.XXXXXX")
    chmod 755 "$W"
}

it_done() {
    rm -rf "$W"
    W=""
}

# A small corpus slice keeps tokenizer training and sharding to a second.
it_data() {
    mkdir -p "$W/data"
    gzip -dc "$ROOT/shards/brown-train.txt.gz" | head -n 3000 | gzip -1 >"$W/data/train.txt.gz"
    gzip -dc "$ROOT/shards/brown-valid.txt.gz" | head -n 300 | gzip -1 >"$W/data/valid.txt.gz"
    "$B/bin/duet-prep" tokenizer input="$W/data/train.txt.gz" vocab_size=512 \
        tokenizer="$W/data/tok.bin" >"$W/data/prep.log" 2>&1 || it_fail "duet-prep tokenizer"
    "$B/bin/duet-prep" shards input="$W/data/train.txt.gz" val_input="$W/data/valid.txt.gz" \
        tokenizer="$W/data/tok.bin" out_dir="$W/data" num_shards=2 >>"$W/data/prep.log" 2>&1 \
        || it_fail "duet-prep shards"
}

# The tiny model every fault test trains: a step takes milliseconds.
IT_MODEL="objective=mdlm seq_len=32 dim=32 n_layer=1 n_head=2 batch_size=4 lr=1e-3 warmup=5 \
ema_decay=0.99 log_every_s=0 threads=1 check_every=5"

it_data_args() {
    echo "tokenizer=$W/data/tok.bin train_data=$W/data/train val_data=$W/data/val"
}

it_train() {
    np=$1
    shift
    # shellcheck disable=SC2046
    ${IT_WRAP:-} timeout -k 5 "${IT_TIMEOUT:-120}" "$ROOT/launch/duet-mpirun.sh" -np "$np" "$B/bin/duet-train" \
        $IT_MODEL $(it_data_args) "$@"
}

it_digest() { "$B/tests/ckpt_digest" "$1"; }

it_latest() { ls "$1"/ckpt_*.duet 2>/dev/null | tail -n 1; }

it_now() { date +%s.%N; }

it_since() { echo "$1 $(date +%s.%N)" | awk '{ printf "%.1f", $2 - $1 }'; }
