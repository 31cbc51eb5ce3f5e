#!/bin/sh
# Killed ranks and crashes (issue 10): a rank SIGKILLed at five random steps
# (and once from outside, by PID), and rank 0 killed halfway through writing a
# checkpoint. Each time the surviving rank must stop within seconds, and a
# relaunch with resume=auto must continue from the last valid checkpoint and
# end bitwise equal to an uninterrupted run.
. "$(dirname "$0")/lib.sh"
it_setup kill
it_data
STEPS=30
RUN="steps=$STEPS ckpt_every=5"
SEED=${DUET_FAULT_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
echo "  kill points from seed $SEED (DUET_FAULT_SEED=$SEED reproduces them)"

it_train 2 $RUN run_dir="$W/ref" resume=none >"$W/ref.log" 2>&1 || it_fail "reference run"
ref=$(it_digest "$W/ref/ckpt_0000000030.duet") || it_fail "reference digest"

# resume_and_compare NAME: relaunch run_dir $W/NAME with resume=auto, expect
# one "resumed" line (rank 0 only) if the killed run left a checkpoint, none
# if it died before the first one, and the reference's final state either way.
resume_and_compare() {
    want=0
    [ -n "$(it_latest "$W/$1")" ] && want=1
    t_relaunch=$(it_now)
    it_train 2 $RUN run_dir="$W/$1" resume=auto >"$W/$1.resume.log" 2>&1 \
        || it_fail "$1: relaunch failed (see $W/$1.resume.log)"
    relaunch=$(it_since "$t_relaunch")
    n=$(grep -c "resumed from checkpoint" "$W/$1.resume.log")
    [ "$n" = "$want" ] || it_fail "$1: expected $want 'resumed' line(s), got $n"
    got=$(it_digest "$W/$1/ckpt_$(printf %010d "$STEPS").duet") || it_fail "$1: final digest"
    [ "$got" = "$ref" ] || it_fail "$1: final state differs from the uninterrupted run:
  ref $ref
  got $got"
}

for k in 1 2 3 4 5; do
    # kill point k: step in 1..29 and rank from a hash of (seed, k)
    h=$(( (SEED * 40503 + k * 2654435) % 1000003 ))
    step=$(( 1 + h % 29 ))
    rank=$(( (h / 29) % 2 ))
    t0=$(date +%s)
    if IT_TIMEOUT=60 it_train 2 $RUN run_dir="$W/k$k" resume=none debug_kill_step="$step" \
        debug_kill_rank="$rank" >"$W/k$k.log" 2>&1; then
        it_fail "kill $k: run killed at step $step survived"
    fi
    dt=$(( $(date +%s) - t0 ))
    [ "$dt" -lt 30 ] || it_fail "kill $k: the other rank took ${dt}s to stop"
    last=$(it_latest "$W/k$k")
    last=${last##*/}
    resume_and_compare "k$k"
    it_say "rank $rank killed at step $step: stopped in ${dt}s, resumed from ${last:-nothing (fresh start)} (relaunch to the end ${relaunch}s): bitwise equal"
done

# From outside: kill -9 of one rank's PID while it trains (longer run, so the
# kill lands mid-run; compared with its own reference).
STEPS=100
RUN="steps=$STEPS ckpt_every=10"
it_train 2 $RUN run_dir="$W/ref2" resume=none >"$W/ref2.log" 2>&1 || it_fail "reference run 2"
ref=$(it_digest "$W/ref2/ckpt_0000000100.duet") || it_fail "reference digest 2"
it_train 2 $RUN run_dir="$W/ext" resume=none >"$W/ext.log" 2>&1 &
mpi=$!
for _ in $(seq 1 200); do [ -e "$W/ext/ckpt_0000000010.duet" ] && break; sleep 0.05; done
victim=$(ps -o pid= --ppid "$mpi" | tail -n 1 | tr -d ' ')
[ -n "$victim" ] || it_fail "external kill: no rank process under mpirun $mpi"
t0=$(date +%s)
kill -9 "$victim"
for _ in $(seq 1 300); do kill -0 "$mpi" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$mpi" 2>/dev/null; then kill -9 "$mpi"; it_fail "external kill: no stop in 30 s"; fi
wait "$mpi" && it_fail "external kill: mpirun reported success"
dt=$(( $(date +%s) - t0 ))
last=$(it_latest "$W/ext")
[ -e "$W/ext/ckpt_0000000100.duet" ] && it_fail "external kill landed after the end"
resume_and_compare ext
it_say "external kill -9 of pid $victim: stopped in ${dt}s, resumed from ${last##*/} (relaunch to the end ${relaunch}s): bitwise equal"

# Rank 0 dies halfway through writing checkpoint 10 of a 30-step run: the
# half-written temporary file must not be resumed; checkpoint 5 is.
STEPS=30
RUN="steps=$STEPS ckpt_every=5"
ref=$(it_digest "$W/ref/ckpt_0000000030.duet")
IT_TIMEOUT=60 it_train 2 $RUN run_dir="$W/cw" resume=none debug_ckpt_crash_step=10 \
    >"$W/cw.log" 2>&1 && it_fail "crash during write: run survived"
[ -e "$W/cw/ckpt_0000000010.duet" ] && it_fail "crash during write: ckpt 10 exists"
[ -e "$W/cw/ckpt_0000000010.duet.tmp" ] || it_fail "crash during write: no partial file left to test with"
resume_and_compare cw
grep -q "resumed from checkpoint $W/cw/ckpt_0000000005.duet" "$W/cw.resume.log" \
    || it_fail "crash during write: did not resume from checkpoint 5"
it_say "crash while writing checkpoint 10: resumed from checkpoint 5 (relaunch to the end ${relaunch}s), bitwise equal"
it_done
