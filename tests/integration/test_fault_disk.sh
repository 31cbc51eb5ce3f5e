#!/bin/sh
# Full disks and I/O errors (issue 10). Each case resumes a run dir holding
# the uninterrupted run's checkpoint 10 and makes the write of checkpoint 15
# fail. Expected: a clear error naming the file and the errno text, no .tmp
# left, checkpoint 10 untouched, and then
#   ckpt_error=stop      exit code 3;
#   ckpt_error=continue  training goes on, failures are counted in the log.
# A relaunch without the fault ends bitwise equal to the uninterrupted run.
#   (a) file-size limit (ulimit -f): EFBIG, both modes
#   (b) read-only run_dir: EROFS (root: read-only bind mount in a private mount
#       namespace, since root ignores permissions) or EACCES (chmod 555; as
#       root without mount rights the ranks run as nobody)
#   (c) full disk: ENOSPC on a small tmpfs (root only), and a transient one
#       (the .tmp name points at /dev/full) with ckpt_error=continue
. "$(dirname "$0")/lib.sh"
it_setup disk
it_data
IT_TIMEOUT=${IT_TIMEOUT:-60}
RUN="steps=20 ckpt_every=5"
CK10=ckpt_0000000010.duet
CK15=ckpt_0000000015.duet
CK20=ckpt_0000000020.duet
it_train 2 $RUN run_dir="$W/ref" resume=none >"$W/ref.log" 2>&1 || it_fail "reference run"
ref=$(it_digest "$W/ref/$CK20") || it_fail "reference digest"
ref10=$(it_digest "$W/ref/$CK10") || it_fail "reference digest at step 10"

# prepare NAME: a run dir holding only the reference's checkpoint 10
prepare() {
    mkdir -p "$W/$1"
    cp "$W/ref/$CK10" "$W/$1/"
}

# run NAME ARGS...: resume NAME from checkpoint 10 up to step 20; sets rc
run() {
    n=$1
    shift
    it_train 2 $RUN run_dir="$W/$n" resume=auto "$@" >"$W/$n.log" 2>&1
    rc=$?
}

# check_kept NAME DIR: no .tmp and no checkpoint 15 in DIR, checkpoint 10 as it was
check_kept() {
    ls "$2"/*.tmp >/dev/null 2>&1 && it_fail "$1: a .tmp file was left in $2"
    [ -e "$2/$CK15" ] && it_fail "$1: checkpoint 15 exists"
    [ "$(it_digest "$2/$CK10")" = "$ref10" ] || it_fail "$1: checkpoint 10 changed"
}

# check_stopped NAME ERRNO_TEXT [DIR]: exit 3, the error names checkpoint 15's
# .tmp file and the errno text, checkpoint 10 kept
check_stopped() {
    d=${3:-$W/$1}
    [ "$rc" = 3 ] || it_fail "$1: exit code $rc, expected 3 (see $W/$1.log)"
    grep -q "error: cannot write checkpoint $W/$1/$CK15: .* $W/$1/$CK15.tmp: $2\$" "$W/$1.log" \
        || it_fail "$1: no clear error naming $CK15.tmp and '$2' (see $W/$1.log)"
    check_kept "$1" "$d"
}

# resume_ref NAME: relaunch without the fault; must end equal to the reference
resume_ref() {
    t_relaunch=$(it_now)
    it_train 2 $RUN run_dir="$W/$1" resume=auto >"$W/$1.resume.log" 2>&1 \
        || it_fail "$1: relaunch failed (see $W/$1.resume.log)"
    grep -q "resumed from checkpoint $W/$1/$CK10" "$W/$1.resume.log" \
        || it_fail "$1: relaunch did not resume from checkpoint 10"
    relaunch=$(it_since "$t_relaunch")
    [ "$(it_digest "$W/$1/$CK20")" = "$ref" ] || it_fail "$1: final state differs from the uninterrupted run"
}

# (a) ulimit -f 800 (400 KB, half a checkpoint). Open MPI's shared-memory
# segments and PMIx's store are files too, so they are switched off here.
limited() {
    (
        export OMPI_MCA_btl=self,tcp PMIX_MCA_gds=hash
        ulimit -f 800 && run "$@"
        exit $rc
    )
    rc=$?
}
prepare fsize-stop
limited fsize-stop ckpt_error=stop
check_stopped fsize-stop "File too large"
resume_ref fsize-stop
it_say "ulimit -f, ckpt_error=stop: exit 3, 'File too large' named $CK15.tmp, checkpoint 10 kept; relaunch to the end (${relaunch}s) bitwise equal"

prepare fsize-cont
limited fsize-cont ckpt_error=continue
# the final checkpoint holds the result: its failure stops the run even here
[ "$rc" = 3 ] || it_fail "fsize-cont: exit code $rc, expected 3"
grep -q "step 15: checkpoint failed, continuing: .*File too large (1 failed so far" "$W/fsize-cont.log" \
    || it_fail "fsize-cont: no 'continuing' line for checkpoint 15"
grep -q "step 20: checkpoint failed, stopping: .*File too large (2 failed so far" "$W/fsize-cont.log" \
    || it_fail "fsize-cont: no 'stopping' line for the final checkpoint"
grep -q '^{"step":19,"loss"' "$W/fsize-cont/train.jsonl" || it_fail "fsize-cont: training did not reach step 20"
check_kept fsize-cont "$W/fsize-cont"
[ -e "$W/fsize-cont/$CK20" ] && it_fail "fsize-cont: checkpoint 20 exists"
it_say "ulimit -f, ckpt_error=continue: trained on past checkpoint 15, both failures counted, exit 3 at the final one, checkpoint 10 kept"

# As root: can this process make a private mount namespace with a read-only
# bind mount and a tmpfs (containers may lack CAP_SYS_ADMIN)?
ns_ok=0
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$W/probe"
    unshare -m sh -c 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" &&
        mount -t tmpfs -o size=64k tmpfs "$1"' sh "$W/probe" 2>/dev/null && ns_ok=1
fi

# (b) read-only run_dir; the log is a symlink to a writable file, so only the
# checkpoint write meets the read-only directory
prepare ro
ln -s "$W/ro-train.jsonl" "$W/ro/train.jsonl"
if [ "$(id -u)" = 0 ] && [ "$ns_ok" = 0 ]; then
    # no mount namespace: the ranks run as nobody, for whom chmod 555 holds
    : >"$W/ro-train.jsonl"
    chmod 666 "$W/ro-train.jsonl"
    chmod 555 "$W/ro"
    IT_WRAP="setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp" run ro
    chmod 755 "$W/ro"
    want="Permission denied"
    [ "$rc" = 3 ] || rc=97 # dropping privileges did not work here
elif [ "$(id -u)" = 0 ]; then
    cat >"$W/ro.sh" <<'EOS'
d=$1
shift
mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" || exit 97
exec "$@"
EOS
    IT_WRAP="unshare -m sh $W/ro.sh $W/ro" run ro
    want="Read-only file system"
else
    chmod 555 "$W/ro"
    run ro
    chmod 755 "$W/ro"
    want="Permission denied"
fi
if [ "$rc" = 97 ]; then
    echo "  SKIP read-only run_dir as root: neither a read-only bind mount nor running as nobody works here (see $W/ro.log)"
else
    check_stopped ro "$want"
    resume_ref ro
    it_say "read-only run_dir: exit 3, '$want' named $CK15.tmp, checkpoint 10 kept; relaunch to the end (${relaunch}s) bitwise equal"
fi

# (c) full disk: a tmpfs with room for checkpoint 10 and half of another
if [ "$ns_ok" = 1 ]; then
    size=$(( $(wc -c <"$W/ref/$CK10") + 409600 ))
    mkdir -p "$W/full" "$W/full.after"
    cat >"$W/full.sh" <<'EOS'
d=$1 size=$2 ck=$3
shift 3
mount -t tmpfs -o "size=$size" tmpfs "$d" || exit 97
cp "$ck" "$d/" || exit 97
"$@"
rc=$?
cp -a "$d/." "$d.after/"
exit $rc
EOS
    IT_WRAP="unshare -m sh $W/full.sh $W/full $size $W/ref/$CK10" run full
    if [ "$rc" = 97 ]; then
        echo "  SKIP full tmpfs: no private mount namespace or tmpfs mount here"
    else
        check_stopped full "No space left on device" "$W/full.after"
        it_say "full tmpfs: exit 3, 'No space left on device' named $CK15.tmp, checkpoint 10 kept"
    fi
else
    echo "  SKIP full tmpfs: mounting needs root and a private mount namespace"
fi

prepare devfull
ln -s /dev/full "$W/devfull/$CK15.tmp"
t0=$(it_now)
run devfull ckpt_error=continue
dt=$(it_since "$t0")
[ "$rc" = 0 ] || it_fail "devfull: exit code $rc, expected 0 (see $W/devfull.log)"
grep -q "step 15: checkpoint failed, continuing: cannot write checkpoint $W/devfull/$CK15: .*No space left on device (1 failed so far" \
    "$W/devfull.log" || it_fail "devfull: no 'continuing' line for checkpoint 15"
grep -q "1 checkpoint writes failed" "$W/devfull.log" || it_fail "devfull: no failure count at the end"
[ -e /dev/full ] || it_fail "devfull: /dev/full was removed"
[ "$(it_digest "$W/devfull/$CK20")" = "$ref" ] || it_fail "devfull: final state differs from the uninterrupted run"
check_kept devfull "$W/devfull"
it_say "transient full disk, ckpt_error=continue: checkpoint 15 failed and counted, run of 10 steps ${dt}s, exit 0, final state bitwise equal"
it_done
