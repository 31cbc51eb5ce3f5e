#!/bin/sh
# Checkpoint write/read/verify throughput and compression ratio for 25M
# float32 parameters with AdamW m, v and EMA slabs (400 MB raw), at zlib
# levels 0 (stored), 1 (the default) and 6. JSON lines on stdout.
set -eu
build=${DUET_BUILD:-build}
dir=$(mktemp -d "${TMPDIR:-/tmp}/duet-ckpt-bench-XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$build/bench/ckpt_bench" "${CKPT_BENCH_PARAMS:-25000000}" "$dir" 0 1 6
