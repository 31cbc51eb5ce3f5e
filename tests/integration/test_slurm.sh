#!/bin/sh
# SLURM for real (issue 10): a private one-node cluster (tests/slurm/slurm-up.sh),
# the real launch/duet.sbatch with the tiny model
#   - launched with srun --mpi=pmix and with mpirun inside the allocation:
#     both COMPLETED, exit 0, final checkpoint, equal final states;
#   - preempted with `scancel --signal=USR1 --batch`: checkpoint, requeue,
#     resume, COMPLETED with the final state bitwise equal to the runs above;
#   - cancelled with a plain scancel: stays CANCELLED (no self-requeue).
# The cluster is torn down by its saved PIDs on every exit path.
. "$(dirname "$0")/lib.sh"
if [ "$(id -u)" != 0 ] || ! command -v slurmctld >/dev/null 2>&1; then
    echo "  SKIP: needs root and the SLURM packages (make deps)"
    exit 0
fi
it_setup slurm
it_data
S=$W/slurm
down() { "$ROOT/tests/slurm/slurm-down.sh" "$S" >"$W/slurm-down.log" 2>&1; }
trap 'down' EXIT
trap 'exit 1' INT TERM
# 6 CPUs on any box: the three jobs of phase 1 run side by side. A port of
# its own, so a second suite on the machine does not collide.
SLURM_LOCAL_CPUS=6 SLURM_LOCAL_PORT=$((17000 + ($$ % 1000) * 2)) \
    "$ROOT/tests/slurm/slurm-up.sh" "$S" >"$W/slurm-up.log" 2>&1 || it_fail "slurm-up (see $W/slurm-up.log)"
export SLURM_CONF=$S/slurm.conf
export DUET_TRAIN=$B/bin/duet-train
# Debian's Open MPI refuses root without these (the sbatch script never forces them).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
STEPS=120
FINAL=ckpt_$(printf %010d $STEPS).duet

submit() { # NAME LAUNCH -> job id; run_dir $W/NAME, output $W/NAME.out
    # shellcheck disable=SC2046
    LAUNCH=$2 sbatch --parsable -J "$1" -o "$W/$1.out" "$ROOT/launch/duet.sbatch" \
        $IT_MODEL $(it_data_args) steps=$STEPS ckpt_every=10 run_dir="$W/$1"
}
field() { scontrol show job "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }
wait_gone() { # JOB SECONDS
    n=0
    while [ -n "$(squeue -h -j "$1" -o %T 2>/dev/null)" ]; do
        n=$((n + 1))
        [ $n -gt $(($2 * 2)) ] && { scancel "$1"; it_fail "job $1 not done in $2 s (see $W/*.out)"; }
        sleep 0.5
    done
}
wait_file() { # FILE SECONDS
    n=0
    while [ ! -e "$1" ]; do
        n=$((n + 1))
        [ $n -gt $(($2 * 10)) ] && it_fail "no $1 after $2 s"
        sleep 0.1
    done
}
expect_done() { # JOB NAME RESTARTS
    [ "$(field "$1" JobState)" = COMPLETED ] || it_fail "$2: job $1 is $(field "$1" JobState) (see $W/$2.out)"
    [ "$(field "$1" ExitCode)" = 0:0 ] || it_fail "$2: exit code $(field "$1" ExitCode)"
    [ "$(field "$1" Restarts)" = "$3" ] || it_fail "$2: Restarts=$(field "$1" Restarts), expected $3"
    [ -e "$W/$2/$FINAL" ] || it_fail "$2: no final checkpoint $FINAL"
}

# ---- phase 1: srun and mpirun launches, plain scancel ------------------------
js=$(submit srun srun) || it_fail "sbatch srun"
jm=$(submit mpirun mpirun) || it_fail "sbatch mpirun"
jc=$(submit cancel srun) || it_fail "sbatch cancel"
wait_file "$W/cancel/ckpt_0000000010.duet" 120
scancel "$jc"
wait_gone "$jc" 60
wait_gone "$js" 300
wait_gone "$jm" 300
expect_done "$js" srun 0
expect_done "$jm" mpirun 0
ref=$(it_digest "$W/srun/$FINAL")
[ "$(it_digest "$W/mpirun/$FINAL")" = "$ref" ] || it_fail "srun and mpirun runs differ"
it_say "srun --mpi=pmix and mpirun inside the allocation: COMPLETED, exit 0, equal final states"

# ---- phase 2: USR1 to the batch shell -> checkpoint -> requeue -> resume -----
jp=$(submit preempt srun) || it_fail "sbatch preempt"
wait_file "$W/preempt/ckpt_0000000010.duet" 120
scancel --signal=USR1 --batch "$jp"
wait_gone "$jp" 300
expect_done "$jp" preempt 1
grep -q "requeueing job $jp" "$W/preempt.out" || it_fail "preempt: no requeue in $W/preempt.out"
n=$(grep -c "resumed from checkpoint" "$W/preempt.out")
[ "$n" = 1 ] || it_fail "preempt: $n 'resumed' lines (expected one, from rank 0)"
[ "$(it_digest "$W/preempt/$FINAL")" = "$ref" ] || it_fail "preempted run differs from the uninterrupted one"
it_say "scancel --signal=USR1 --batch: requeued, resumed, COMPLETED, bitwise equal"

# The cancelled job had the requeue delay (cred_expire + scheduler) and more to come back.
st=$(field "$jc" JobState)
[ "$st" = CANCELLED ] || it_fail "plain scancel: job $jc is $st"
[ "$(field "$jc" Restarts)" = 0 ] || it_fail "plain scancel: job $jc was requeued"
[ -e "$W/cancel/$FINAL" ] && it_fail "plain scancel: the cancelled job ran to the end"
it_say "plain scancel: stays CANCELLED, not requeued"
down || it_fail "slurm-down"
trap - EXIT
it_done
