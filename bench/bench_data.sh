#!/bin/sh
# Data path benchmarks: BPE training (time, peak RSS), encode MB/s on one
# core, `duet-prep shards` MB/s end to end; side by side with Debian's
# sentencepiece (BPE, same vocabulary, same corpus) when spm_train is
# installed. Prints JSON lines. Run from the repository root (make bench).
#   DUET_BUILD  build directory (default build)
#   VOCAB       vocabulary size (default 8192)
set -eu
B=${DUET_BUILD:-build}
VOCAB=${VOCAB:-8192}
PREP=$B/bin/duet-prep
TOKB=$B/bench/tok_bench
for f in "$PREP" "$TOKB" shards/brown-train.txt.gz; do
  [ -e "$f" ] || { echo "bench_data: missing $f (run make bench from the repository root)" >&2; exit 1; }
done
TMP=$(mktemp -d "${TMPDIR:-/tmp}/duet-bench-data.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
note() { printf '{"bench": "data", "note": "%s"}\n' "$1"; }

# timed OUT_NAME CMD...: runs CMD, sets SECS and RSS_MB (peak RSS of CMD).
timed() {
  name=$1; shift
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -o "$TMP/$name.time" -f "%e %M" "$@" > "$TMP/$name.out" 2> "$TMP/$name.err"
    SECS=$(awk '{print $1}' "$TMP/$name.time")
    RSS_MB=$(awk '{printf "%.1f", $2 / 1024}' "$TMP/$name.time")
  else
    t0=$(date +%s.%N)
    "$@" > "$TMP/$name.out" 2> "$TMP/$name.err"
    SECS=$(echo "$(date +%s.%N) $t0" | awk '{printf "%.2f", $1 - $2}')
    RSS_MB=null
  fi
}
mb() { awk -v n="$(wc -c < "$1")" 'BEGIN {printf "%.2f", n / 1e6}'; }
rate() { awk -v m="$1" -v s="$2" 'BEGIN {printf "%.1f", m / (s > 0 ? s : 1e-9)}'; }

gzip -dc shards/brown-train.txt.gz > "$TMP/brown.txt"
CORPORA="brown"
if [ -d /work/shared/data/brown ] && [ -d /work/shared/data/nlpcorpus ]; then
  # Development machines only: the 14 MB text of /work/shared/data.
  cat /work/shared/data/brown/train.txt /work/shared/data/brown/valid.txt \
      /work/shared/data/nlpcorpus/train.txt /work/shared/data/nlpcorpus/valid.txt > "$TMP/shared.txt"
  CORPORA="brown shared"
fi
HAVE_SPM=0
if command -v spm_train > /dev/null 2>&1 && command -v spm_encode > /dev/null 2>&1; then
  HAVE_SPM=1
else
  note "spm_train not found: sentencepiece comparison skipped (apt-get install sentencepiece)"
fi

for c in $CORPORA; do
  txt=$TMP/$c.txt
  size=$(mb "$txt")
  label=$c
  [ "$c" = brown ] && label="brown-train (embedded shards/brown-train.txt.gz)"
  [ "$c" = shared ] && label="/work/shared/data brown+nlpcorpus train+valid (not in the repository)"

  timed "tok_$c" "$PREP" tokenizer input="$txt" vocab_size="$VOCAB" tokenizer="$TMP/tok_$c.bin" tok_sample_mb=1024
  printf '{"bench": "tok_train", "impl": "duet", "corpus": "%s", "mb": %s, "vocab": %s, "threads": 1, "seconds": %s, "peak_rss_mb": %s}\n' \
    "$label" "$size" "$VOCAB" "$SECS" "$RSS_MB"
  "$TOKB" "$TMP/tok_$c.bin" "$txt" 3

  if [ "$HAVE_SPM" = 1 ]; then
    # max_sentence_length: Brown paragraphs exceed spm's default 4192 bytes;
    # character_coverage 1: keep every character, as a byte-level BPE does.
    if timed "spm_$c" spm_train --input="$txt" --model_prefix="$TMP/spm_$c" --vocab_size="$VOCAB" \
        --model_type=bpe --character_coverage=1.0 --max_sentence_length=100000 \
        --num_threads=1 --minloglevel=2; then
      printf '{"bench": "tok_train", "impl": "sentencepiece", "corpus": "%s", "mb": %s, "vocab": %s, "threads": 1, "seconds": %s, "peak_rss_mb": %s}\n' \
        "$label" "$size" "$VOCAB" "$SECS" "$RSS_MB"
      timed "spme_$c" spm_encode --model="$TMP/spm_$c.model" --output_format=id --input="$txt" --output="$TMP/spm_ids_$c"
      printf '{"bench": "tok_encode", "impl": "sentencepiece", "corpus": "%s", "mb": %s, "threads": 1, "seconds": %s, "mb_per_s": %s}\n' \
        "$label" "$size" "$SECS" "$(rate "$size" "$SECS")"
    else
      note "spm_train failed on $c: $(tail -1 "$TMP/spm_$c.err")"
    fi
  fi
done

# duet-prep shards end to end on the embedded corpus (gzip input).
size=$(awk -v n="$(gzip -dc shards/brown-train.txt.gz | wc -c)" 'BEGIN {printf "%.2f", n / 1e6}')
for th in 1 2; do
  timed "shards_$th" "$PREP" shards input=shards/brown-train.txt.gz tokenizer="$TMP/tok_brown.bin" \
    out_dir="$TMP/data_$th" num_shards=4 val_fraction=0.01 threads="$th"
  printf '{"bench": "prep_shards", "corpus": "shards/brown-train.txt.gz", "mb": %s, "threads": %s, "seconds": %s, "mb_per_s": %s, "peak_rss_mb": %s}\n' \
    "$size" "$th" "$SECS" "$(rate "$size" "$SECS")" "$RSS_MB"
done
if [ "$CORPORA" != brown ]; then
  # A larger input (8 x the shared text, ~120 MB) shows the steady state.
  for i in 1 2 3 4 5 6 7 8; do cat "$TMP/shared.txt"; done > "$TMP/big.txt"
  size=$(mb "$TMP/big.txt")
  for th in 1 2; do
    timed "big_$th" "$PREP" shards input="$TMP/big.txt" tokenizer="$TMP/tok_shared.bin" \
      out_dir="$TMP/big_$th" num_shards=4 val_fraction=0.01 threads="$th"
    printf '{"bench": "prep_shards", "corpus": "8 x /work/shared/data text", "mb": %s, "threads": %s, "seconds": %s, "mb_per_s": %s, "peak_rss_mb": %s}\n' \
      "$size" "$th" "$SECS" "$(rate "$size" "$SECS")" "$RSS_MB"
  done
  cmp -s "$TMP/big_1/train_00000.bin" "$TMP/big_2/train_00000.bin" || note "ERROR: shards differ between 1 and 2 threads"
fi
