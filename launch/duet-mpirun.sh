#!/bin/sh
# duet-mpirun.sh — mpirun for one machine (a laptop, a CI runner, a dev box).
#
#   launch/duet-mpirun.sh -np 2 build/bin/duet-train configs/mdlm-tiny.conf
#
# Adds only what a single machine needs and passes everything else through:
#   - as root: OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM)=1 (Open MPI refuses root otherwise)
#   - more ranks than cores: --oversubscribe (expect ~10x slower steps)
#   - no --bind-to given: --bind-to none, so a rank's threads (threads=N) are
#     not all pinned to one core
#   - OMP_WAIT_POLICY=passive unless set: with threads=N > 1, idle OpenMP
#     workers sleep instead of spinning on the cores that the rank's OpenBLAS
#     threads and the other ranks need (bench/RESULTS.md, issue 4)
# On a cluster use launch/duet.sbatch (srun --mpi=pmix) instead.
set -eu

np=1
prev=""
bind_given=0
for a in "$@"; do
    case "$prev" in -np|-n|--np|-c) np="$a" ;; esac
    case "$a" in --bind-to|--bind-to=*) bind_given=1 ;; esac
    prev="$a"
done

extra=""
if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
cores=$(nproc 2>/dev/null || echo 1)
if [ "$np" -gt "$cores" ] 2>/dev/null; then
    extra="$extra --oversubscribe"
fi
if [ "$bind_given" = 0 ]; then
    extra="$extra --bind-to none"
fi
# shellcheck disable=SC2086
exec mpirun $extra "$@"
