#!/bin/sh
# Numerical faults (issue 10): one rank plants a NaN or an Inf in its loss or
# its local gradient (debug_nan_*), before the allreduces. Every rank must take
# the same decision from the reduced values:
#   nan_policy=skip  the step leaves parameters and optimizer state untouched,
#                    is counted in the log, and the run completes with the
#                    replicas identical (check_every=1 compares their checksums);
#   nan_policy=stop  exit code 4 with a clear message, nothing written after
#                    the last good checkpoint, which equals the uninterrupted
#                    run's and resumes to its final state bitwise.
. "$(dirname "$0")/lib.sh"
it_setup nan
it_data
IT_TIMEOUT=${IT_TIMEOUT:-60}
STEPS=20
RUN="steps=$STEPS ckpt_every=5"
it_train 2 $RUN run_dir="$W/ref" resume=none >"$W/ref.log" 2>&1 || it_fail "reference run"
ref=$(it_digest "$W/ref/ckpt_0000000020.duet") || it_fail "reference digest"
ref10=$(it_digest "$W/ref/ckpt_0000000010.duet") || it_fail "reference digest at step 10"

# state digests without train_state (which counts steps and skips)
state() { it_digest "$1" | tr ' ' '\n' | grep -v -e '^train_state=' -e '^step='; }

rank=0
resumed=0
for kind in nan inf; do
    for where in grad loss; do
        rank=$(( 1 - rank ))
        fault="debug_nan_kind=$kind debug_nan_where=$where debug_nan_rank=$rank"
        name="skip-$kind-$where"
        # skip step 10: checkpoint 11 (after it) must hold the reference's
        # state after step 9 (its checkpoint 10)
        IT_MODEL=$(echo "$IT_MODEL" | sed 's/check_every=[0-9]*/check_every=1/') \
            it_train 2 steps=$STEPS ckpt_every=11 run_dir="$W/$name" resume=none \
            nan_policy=skip debug_nan_step=10 $fault >"$W/$name.log" 2>&1 \
            || it_fail "$name: run failed (see $W/$name.log)"
        grep -q "step 10: non-finite step skipped: .*1 skipped so far" "$W/$name.log" \
            || it_fail "$name: no 'skipped' event for step 10"
        grep -q "1 non-finite steps were skipped" "$W/$name.log" || it_fail "$name: no skip count"
        grep -q '"step":10,.*"skipped":true' "$W/$name/train.jsonl" \
            || it_fail "$name: step 10 not marked skipped in train.jsonl"
        [ "$(grep -c '"skipped":true' "$W/$name/train.jsonl")" = 1 ] \
            || it_fail "$name: more than one step skipped"
        [ "$(state "$W/$name/ckpt_0000000011.duet")" = "$(state "$W/ref/ckpt_0000000010.duet")" ] \
            || it_fail "$name: the skipped step changed the parameters or optimizer state"
        [ "$(state "$W/$name/ckpt_0000000011.duet")" = "$(state "$W/$name/ckpt_0000000020.duet")" ] \
            && it_fail "$name: training did not go on after the skipped step"
        it_say "$kind in $where on rank $rank, nan_policy=skip: step 10 skipped and counted, state unchanged by it, replicas identical"

        name="stop-$kind-$where"
        t0=$(it_now)
        it_train 2 $RUN run_dir="$W/$name" resume=none debug_nan_step=12 $fault \
            >"$W/$name.log" 2>&1
        rc=$?
        dt=$(it_since "$t0")
        [ "$rc" = 4 ] || it_fail "$name: exit code $rc, expected 4 (see $W/$name.log)"
        grep -q "error: non-finite loss or gradient at step 12 .*last good checkpoint in '$W/$name' is kept" \
            "$W/$name.log" || it_fail "$name: no clear message"
        last=$(it_latest "$W/$name")
        [ "$last" = "$W/$name/ckpt_0000000010.duet" ] || it_fail "$name: newest checkpoint is '$last'"
        ls "$W/$name"/*.tmp >/dev/null 2>&1 && it_fail "$name: a .tmp file was left"
        [ "$(it_digest "$last")" = "$ref10" ] || it_fail "$name: checkpoint 10 differs from the reference's"
        if [ "$resumed" = 0 ]; then
            # resuming a checkpoint equal to the reference's: once is enough
            t_relaunch=$(it_now)
            it_train 2 $RUN run_dir="$W/$name" resume=auto >"$W/$name.resume.log" 2>&1 \
                || it_fail "$name: resume failed (see $W/$name.resume.log)"
            grep -q "resumed from checkpoint $last" "$W/$name.resume.log" || it_fail "$name: not resumed from $last"
            [ "$(it_digest "$W/$name/ckpt_0000000020.duet")" = "$ref" ] \
                || it_fail "$name: resumed run differs from the uninterrupted run"
            resumed=1
            note=", relaunch to step $STEPS ($(it_since "$t_relaunch")s) bitwise equal to the uninterrupted run"
        else
            note=", equal to the reference's"
        fi
        it_say "$kind in $where on rank $rank, nan_policy=stop: exit 4 after ${dt}s, checkpoint 10 kept$note"
    done
done

# A loss spike: resume checkpoint 10 with lr=1 (from 1e-3); the jump of the
# loss above spike_factor (3) x its running mean is logged, training goes on.
mkdir -p "$W/spike"
cp "$W/ref/ckpt_0000000010.duet" "$W/spike/"
IT_MODEL=$(echo "$IT_MODEL" | sed 's/lr=[0-9.e-]*/lr=1/') \
    it_train 2 steps=14 ckpt_every=5 run_dir="$W/spike" resume=auto nan_policy=skip \
    >"$W/spike.log" 2>&1 || it_fail "spike: run failed (see $W/spike.log)"
line=$(grep -m1 "loss spike: loss" "$W/spike.log") || it_fail "spike: no 'loss spike' line"
grep -q '"spike":true' "$W/spike/train.jsonl" || it_fail "spike: not marked in train.jsonl"
echo "$line" | awk '{ if (!($7 > 3 * $11)) exit 1 }' || it_fail "spike: reported loss not above 3x the mean: $line"
it_say "lr raised 1000x at step 10: ${line#duet-train: }"
it_done
