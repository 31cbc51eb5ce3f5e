#!/bin/sh
# steps_sweep.sh — few-step sampling quality (issue 9): do the latent-coupled
# (lddm-fuji, lddm-seq) and AR-Diffusion samplers keep quality at few steps
# better than plain masked diffusion (mdlm)?
#
# 1. Unconditional, embedded Brown corpus: each objective's tiny config
#    (same backbone and batch) trained for the same token budget on 2 ranks;
#    N samples with a fixed seed at each step count of STEP_LIST, scored by
#    duet-eval against the held-out split (gen-PPL under an AR judge trained
#    as in bench/compare.sh, smaller by default: JUDGE_KEYS; MAUVE, Div),
#    timed per sample.
#    (lddm-seq runs its latent chain with the same number of steps.)
# 2. LDDM latent use: validation loss of the trained lddm-seq with the clean
#    latent kept (lddm_p_cfg=0) and zeroed (lddm_p_cfg=1); a small gap means
#    the token denoiser ignores the latent.
# 3. Seq2seq, WordNet word -> definition (configs/ardiff-wordnet.conf):
#    AR-Diffusion vs its flat ablation (one time for every token, i.e. plain
#    embedding diffusion; there is no masked seq2seq objective), ROUGE-L and
#    BLEU on the first WN_N validation pairs at each step count of WN_STEP_LIST.
#
#   sh bench/steps_sweep.sh
#   OBJECTIVES="mdlm ardiff" STEP_LIST="4 64" N=50 sh bench/steps_sweep.sh
#   WORDNET= sh bench/steps_sweep.sh          # skip the seq2seq part
#
# Writes the tables between the steps markers of bench/RESULTS.md. Finished
# runs and evaluations are kept in $W and reused (delete it to start over). About 20 minutes on 2 idle cores.
set -eu
BUILD=${DUET_BUILD:-build}
BIN=$BUILD/bin
W=${STEPS_DIR:-build/steps}
OBJECTIVES=${OBJECTIVES:-"mdlm lddm-fuji lddm-seq ardiff"}
BUDGET_STEPS=${BUDGET_STEPS:-300}   # x global batch 32 x 64 tokens = the token budget
N=${N:-100}                         # samples per objective and step count
STEP_LIST=${STEP_LIST:-"4 8 16 32 64"}
SEED=${SEED:-11}
JUDGE_KEYS=${JUDGE_KEYS-"dim=128 n_layer=4 n_head=4 steps=400"} # configs/ar-judge.conf at 800 steps takes too long on a shared machine
WORDNET=${WORDNET-/work/shared/data/wordnet} # train.tsv, valid.tsv; empty: skip
WN_TRAIN_STEPS=${WN_TRAIN_STEPS:-250}       # x global batch 64 pairs
WN_N=${WN_N:-200}
WN_STEP_LIST=${WN_STEP_LIST:-"4 16 64"}
mkdir -p "$W"

say() { echo "[steps] $*" >&2; }

. bench/lib.sh
bench_brown_data
bench_judge

per_sample() { awk -v s="$1" -v n="$2" 'BEGIN {printf "%.4f", s / n}'; }

# ---- 1. unconditional sweep ----
UNCOND=$W/uncond.md
{
    echo "| objective | sampling steps | denoiser evals / sample | gen-PPL (trim) | MAUVE | Div | sampling s / sample |"
    echo "|---|---|---|---|---|---|---|"
} > "$UNCOND"
for obj in $OBJECTIVES; do
    case $obj in
    mdlm) conf=configs/mdlm-tiny.conf ;;
    *) conf=configs/$obj-tiny.conf ;;
    esac
    ck=$(train "$obj" "$conf" steps="$BUDGET_STEPS")
    for k in $STEP_LIST; do
        out=$W/$obj.k$k
        if [ ! -s "$out.json" ]; then
            "$BIN/duet-sample" ckpt="$ck" n_samples="$N" sample_steps="$k" seed="$SEED" \
                lddm_lat_steps="$k" output="$out.txt" 2>"$out.log" || { cat "$out.log" >&2; exit 1; }
            eval_uncond "$out.txt" "$N" "$out.json"
        fi
        printf '| %s | %s | %s | %.1f | %.3f | %.3f | %s |\n' "$obj" "$k" "$(sample_nfe "$out.log")" \
            "$(json_get "$out.json" ppl_trim)" "$(json_get "$out.json" mauve)" \
            "$(json_get "$out.json" div)" "$(per_sample "$(sample_secs "$out.log")" "$N")" >> "$UNCOND"
        say "$(tail -n 1 "$UNCOND")"
    done
done

# ---- 2. does lddm-seq's token denoiser use the latent? ----
# One more step at lr=0 from the final checkpoint, then the validation loss
# with the clean latent kept or zeroed for every sequence (the prior's
# latent term does not depend on it, so the difference is the token term's).
# (FUJI is left out: zeroing its latent input also drops its latent loss.)
ABL=$W/latent.md
: > "$ABL"
val_loss() { # objective ckpt p_cfg
    run=$W/abl-$1-$3
    if ! grep -q '"val_loss"' "$run/train.jsonl" 2>/dev/null; then
        rm -rf "$run"
        launch/duet-mpirun.sh -np 2 "$BIN/duet-train" "configs/$1-tiny.conf" $DATA run_dir="$run" \
            resume="$2" steps=$((BUDGET_STEPS + 1)) lr=0 val_every=1 val_batches=16 \
            lddm_p_cfg="$3" log_every_s=0 >"$run.log" 2>&1 || { tail -n 20 "$run.log" >&2; exit 1; }
    fi
    grep '"val_loss"' "$run/train.jsonl" | tail -n 1 | sed 's/.*"val_loss":\([0-9.e+-]*\).*/\1/'
}
case " $OBJECTIVES " in
*" lddm-seq "*)
    ck=$(ls "$W/lddm-seq"/ckpt_*.duet | tail -n 1)
    kept=$(val_loss lddm-seq "$ck" 0)
    zeroed=$(val_loss lddm-seq "$ck" 1)
    {
        echo "| objective | val loss, latent kept | val loss, latent zeroed | difference |"
        echo "|---|---|---|---|"
        awk -v a="$kept" -v b="$zeroed" \
            'BEGIN {printf "| lddm-seq | %.7f | %.7f | %+.1e |\n", a, b, b - a}'
    } > "$ABL"
    say "$(tail -n 1 "$ABL")"
    ;;
esac

# ---- 3. seq2seq: WordNet definitions, ardiff vs its flat ablation ----
S2S=$W/seq2seq.md
: > "$S2S"
if [ -n "$WORDNET" ]; then
    WN=$W/wn
    mkdir -p "$WN"
    if [ ! -f "$WN/tok.bin" ]; then
        "$BIN/duet-prep" tokenizer input="$WORDNET/train.tsv" paired=1 vocab_size=4096 tokenizer="$WN/tok.bin"
        "$BIN/duet-prep" shards input="$WORDNET/train.tsv" val_input="$WORDNET/valid.tsv" paired=1 \
            tokenizer="$WN/tok.bin" out_dir="$WN/data" num_shards=2
    fi
    head -n "$WN_N" "$WORDNET/valid.tsv" | cut -f1 > "$WN/src.txt"
    head -n "$WN_N" "$WORDNET/valid.tsv" | cut -f2 > "$WN/ref.txt"
    {
        echo "| model | sampling steps | denoiser evals / sample | ROUGE-L | BLEU | sampling s / sample |"
        echo "|---|---|---|---|---|---|"
    } > "$S2S"
    DATA_BROWN=$DATA
    DATA="tokenizer=$WN/tok.bin train_data=$WN/data/train val_data=$WN/data/val"
    for model in ardiff flat; do
        keys="steps=$WN_TRAIN_STEPS"
        [ "$model" = flat ] && keys="$keys ardiff_flat=1"
        ck=$(train "wn-$model" configs/ardiff-wordnet.conf $keys)
        for k in $WN_STEP_LIST; do
            out=$W/wn-$model.k$k
            if [ ! -s "$out.json" ]; then
                "$BIN/duet-sample" ckpt="$ck" source_file="$WN/src.txt" sample_steps="$k" seed="$SEED" \
                    output="$out.txt" 2>"$out.log" || { cat "$out.log" >&2; exit 1; }
                "$BIN/duet-eval" samples="$out.txt" references="$WN/ref.txt" eval_mode=seq2seq \
                    seed="$SEED" output="$out.json" 2>/dev/null
            fi
            printf '| %s | %s | %s | %.3f | %.3f | %s |\n' "$model" "$k" "$(sample_nfe "$out.log")" \
                "$(json_get "$out.json" rougeL)" "$(json_get "$out.json" bleu)" \
                "$(per_sample "$(sample_secs "$out.log")" "$WN_N")" >> "$S2S"
            say "$(tail -n 1 "$S2S")"
        done
    done
    # reference point: one constant definition, built from WordNet's most frequent gloss words
    yes "of or relating to a person" | head -n "$WN_N" > "$W/wn-const.txt"
    "$BIN/duet-eval" samples="$W/wn-const.txt" references="$WN/ref.txt" eval_mode=seq2seq \
        seed="$SEED" output="$W/wn-const.json" 2>/dev/null
    printf '| constant "of or relating to a person" | - | 0 | %.3f | %.3f | - |\n' \
        "$(json_get "$W/wn-const.json" rougeL)" "$(json_get "$W/wn-const.json" bleu)" >> "$S2S"
    DATA=$DATA_BROWN
fi

# ---- write the tables into bench/RESULTS.md between the markers ----
{
    echo "Command: \`JUDGE_KEYS=\"$JUDGE_KEYS\" OBJECTIVES=\"$OBJECTIVES\" BUDGET_STEPS=$BUDGET_STEPS N=$N STEP_LIST=\"$STEP_LIST\" SEED=$SEED WN_TRAIN_STEPS=$WN_TRAIN_STEPS WN_N=$WN_N WN_STEP_LIST=\"$WN_STEP_LIST\" sh bench/steps_sweep.sh\`"
    echo "(2 ranks x 1 thread; unconditional: the tiny configs, global batch 32 x 64 tokens, judge"
    echo "configs/ar-judge.conf with JUDGE_KEYS, references the Brown validation split;"
    echo "seq2seq: configs/ardiff-wordnet.conf, global batch 64 pairs, first $WN_N WordNet validation"
    echo "pairs; $(date -u +%F); timings from a shared, loaded machine)."
    echo
    echo "Unconditional, $N samples per row:"
    echo
    cat "$UNCOND"
    if [ -s "$ABL" ]; then
        echo
        echo "LDDM-SEQ latent use (validation loss over 16 x 32 sequences after $BUDGET_STEPS steps):"
        echo
        cat "$ABL"
    fi
    if [ -s "$S2S" ]; then
        echo
        echo "Seq2seq (WordNet word -> definition), $WN_TRAIN_STEPS training steps:"
        echo
        cat "$S2S"
    fi
} > "$W/block.md"
results_block steps "Few-step sampling: AR-Diffusion and LDDM (issue 9)" "$W/block.md"
cat "$W/block.md"
