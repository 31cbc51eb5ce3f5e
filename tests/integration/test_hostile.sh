#!/bin/sh
# Hostile files (issue 10): a corruption campaign over a real checkpoint,
# shard and tokenizer — HOSTILE_COUNT (default 1000) byte flips, truncations
# and header edits each — read in process by tests/tools/corrupt built with
# ASan+UBSan (every mutant rejected naming the file, or accepted only as
# well-formed content; no sanitizer report), then the real binaries on a few
# mutants of each kind: a message naming the file, a non-zero exit, no crash.
. "$(dirname "$0")/lib.sh"
SAN=${DUET_SAN_BUILD:-build/san}
N=${HOSTILE_COUNT:-1000}
SEED=${HOSTILE_SEED:-10}
# Built by `make check-san` when run from `make test`; a no-op then.
${MAKE:-make} -s -C "$ROOT" SAN=1 BUILD="$SAN" "$SAN/tests/corrupt" >/dev/null \
    || it_fail "building $SAN/tests/corrupt"
CORRUPT=$ROOT/$SAN/tests/corrupt
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1

it_setup hostile
it_data
# A real trainer checkpoint (every section kind) of a narrower model than
# IT_MODEL's: each mutant decodes it whole under ASan, so its size is the
# campaign's run time.
IT_MODEL=$(echo "$IT_MODEL" | sed 's/ dim=32 / dim=8 /')
it_train 1 steps=2 ckpt_every=2 run_dir="$W/run" >"$W/train.log" 2>&1 || it_fail "training (see $W/train.log)"
CKPT=$(it_latest "$W/run")
[ -n "$CKPT" ] || it_fail "no checkpoint written"

for f in "$CKPT" "$W/data/val_00000.bin" "$W/data/tok.bin"; do
    "$CORRUPT" "$f" "$SEED" "$N" "$W/mutant" >"$W/campaign.log" 2>&1
    rc=$?
    sed 's/^/  /' "$W/campaign.log"
    [ $rc -eq 0 ] || it_fail "campaign over $f (exit $rc; see $W/campaign.log)"
done

# emit CLASS PATTERN FILE OUT: writes to OUT the first mutant of CLASS of FILE
# whose description matches PATTERN, and prints the description.
emit() {
    i=0
    while [ $i -lt 200 ]; do
        "$CORRUPT" --emit "$1" $i "$3" "$SEED" "$4" >"$W/desc" || it_fail "corrupt --emit $1 $i $3"
        if grep -q "$2" "$W/desc"; then
            it_say "$(basename "$3"), $1 #$i: $(cat "$W/desc")"
            return 0
        fi
        i=$((i + 1))
    done
    it_fail "no $1 mutant of $3 matches '$2'"
}

# expect_rejected LOG BAD CMD...: CMD must fail, without a crash or hang,
# with a message naming the file BAD.
expect_rejected() {
    er_log=$1
    er_bad=$2
    shift 2
    timeout -k 5 120 "$@" >"$er_log" 2>&1
    er_rc=$?
    [ $er_rc -ne 0 ] || it_fail "accepted a corrupt file: $* (log: $er_log)"
    [ $er_rc -lt 124 ] || it_fail "exit status $er_rc (crash, signal or hang): $* (log: $er_log)"
    grep -q "$er_bad" "$er_log" || it_fail "failed without naming $er_bad: $* (log: $er_log)"
    it_say "  -> exit $er_rc: $(grep -m1 "$er_bad" "$er_log" | cut -c1-150)"
}

# A few mutants of each class through the real binaries: a truncation, a
# flip without checksum repair, a version edit with the checksums repaired.
k=0
for spec in "trunc ." "flip [0-9]\$" "header ^version"; do
    cls=${spec%% *}
    pat=${spec#* }
    k=$((k + 1))
    emit "$cls" "$pat" "$CKPT" "$W/bad$k.duet"
    expect_rejected "$W/sample$k.log" "$W/bad$k.duet" "$B/bin/duet-sample" ckpt="$W/bad$k.duet" n_samples=1

    emit "$cls" "$pat" "$W/data/train_00000.bin" "$W/bad$k.bin"
    expect_rejected "$W/train$k.log" "$W/bad$k.bin" "$ROOT/launch/duet-mpirun.sh" -np 1 "$B/bin/duet-train" \
        $IT_MODEL tokenizer="$W/data/tok.bin" train_data="$W/bad$k.bin" val_data="$W/data/val" \
        run_dir="$W/run$k" steps=1

    emit "$cls" "$pat" "$W/data/tok.bin" "$W/bad$k.tok"
    expect_rejected "$W/prep$k.log" "$W/bad$k.tok" "$B/bin/duet-prep" shards input="$W/data/valid.txt.gz" \
        tokenizer="$W/bad$k.tok" out_dir="$W/prep$k"
    expect_rejected "$W/traintok$k.log" "$W/bad$k.tok" "$ROOT/launch/duet-mpirun.sh" -np 1 "$B/bin/duet-train" \
        $IT_MODEL tokenizer="$W/bad$k.tok" train_data="$W/data/train" val_data="$W/data/val" \
        run_dir="$W/runtok$k" steps=1
done
it_done
echo "ok"
