/* End-to-end tests of duet-train and duet-sample (issue 5): N-rank vs 1-rank
 * equivalence, gradient accumulation, bitwise resume after SIGUSR1,
 * checkpoint corruption, sampler determinism. Each test spawns the real
 * binaries (launch/duet-mpirun.sh for MPI runs) on a tiny model and compares
 * checkpoints through the ckpt API.
 *
 * To cover a new objective, add its tiny config to OBJECTIVES below. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "duet/util.h"
#include "testutil.h"

/* Tiny settings shared by every run (a config file, so that tests may
 * override them on the command line); objectives add their own keys. */
static const char BASE_CONF[] = "dim = 32\nn_layer = 2\nn_head = 2\nseq_len = 32\nlr = 3e-3\n"
                                "warmup = 2\nema_decay = 0.99\nlog_every_s = 60\nckpt_every = 0\n"
                                "check_every = 1\nseed = 5\n";

typedef struct objective_case {
    const char *name;
    const char *keys; /* objective-specific keys for a tiny model */
    double tol;       /* 2-rank vs 1-rank: relative parameter difference allowed */
} objective_case;

/* Tolerances: float summation order differs between 1 and 2 ranks; after 6
 * AdamW steps that noise stays below 1e-4 relative for one network. lddm-seq
 * (two networks) measured 0.6e-4..1.6e-4 over seeds 5-7; its rows add up
 * exactly (test_lddm.c split_batches_add_up). The joint rows (three
 * networks) measured 0.3e-3..1.3e-3 over seeds 5-8 (joint1 with BatchNorm,
 * joint2 with DataNorm: both sync statistics over ranks; separate crosses
 * its stage switch at step 2). Not a differing draw: the step-0 losses agree
 * to 1e-8 and Dif/Dec to 1e-4 after one step; the zero-initialized heads
 * give gradients that are zero in exact arithmetic (e.g. joint2's pull
 * through sphere/layer/batch norms projects out exactly), and AdamW turns
 * the tiny, summation-order-dependent values into lr-sized steps. ardiff
 * measured 0.06e-4..2.7e-4 over seeds 5-12, probably because its embeddings
 * enter both the noisy input and the target, so more small gradients (which
 * Adam scales up to lr-sized steps) carry the summation noise. mdlm runs
 * its head GEMMs on the masked rows only, so their sizes (and OpenBLAS's
 * blocking) differ with the split too: measured 1.7e-4 (5e-5 with the full
 * head); the rows path equals the full head to 1e-5 (test_stack.c
 * head_on_selected_rows...). */
static const objective_case OBJECTIVES[] = {
    {"ar", "objective=ar", 1e-4},
    {"mdlm", "objective=mdlm", 4e-4},
    {"lddm-fuji", "objective=lddm-fuji lddm_slots=4 lddm_slot_dim=8", 1e-4},
    {"lddm-seq", "objective=lddm-seq lddm_slots=4 lddm_slot_dim=8", 4e-4},
    {"joint1", "objective=joint1 latent_dim=8 enc_layers=1 dec_layers=1 latent_norm=batch", 3e-3},
    {"joint2", "objective=joint2 latent_dim=8 enc_layers=1 dec_layers=1 latent_norm=data", 3e-3},
    {"separate", "objective=separate latent_dim=8 enc_layers=1 dec_layers=1 switch_step=2", 3e-3},
    {"ardiff", "objective=ardiff ardiff_emb_dim=16", 4e-4},
};

static char *dir;        /* shared data: tokenizer + shards, made once */
static char *cmd_prefix; /* duet-train with the data and BASE_CONF */

static void make_data(void)
{
    dir = test_tiny_data();
    char *train = test_bin("duet-train");
    char *conf = test_write_file(dir, "base.conf", BASE_CONF, strlen(BASE_CONF));
    cmd_prefix = test_strf(
             "%s %s tokenizer=%s/tok.bin train_data=%s/data/train val_data=%s/data/val",
             train, conf, dir, dir, dir);
    free(conf);
    free(train);
}

static void remove_data(void)
{
    test_rmtree(dir);
    free(dir);
    free(cmd_prefix);
}

/* Runs duet-train on np ranks; returns the exit status, output in *out. */
static int train(int np, const char *run, const char *keys, char **out)
{
    return test_train_run(np, cmd_prefix, dir, run, keys, out);
}

static void train_ok(int np, const char *run, const char *keys)
{
    char *out = NULL;
    int rc = train(np, run, keys, &out);
    ck_assert_msg(rc == 0, "duet-train (%d ranks, %s) failed with %d:\n%s", np, keys, rc, out);
    free(out);
}

static float *read_floats(const char *path, const char *section, size_t *n)
{
    float *x = test_ckpt_section(path, section, n);
    *n /= sizeof(float);
    return x;
}

/* Max relative difference of a float section of two checkpoints. */
static double section_diff(const char *a, const char *b, const char *section)
{
    size_t na, nb;
    float *x = read_floats(a, section, &na), *y = read_floats(b, section, &nb);
    ck_assert_uint_eq(na, nb);
    double d = test_max_rel_err(x, y, na, 1e-3);
    free(x);
    free(y);
    return d;
}

/* 2 ranks x micro-batch b == 1 rank x 2b (SPEC 7.16). The keyed generator
 * makes the random draws identical, so only float summation order differs:
 * after 6 AdamW steps parameters agree to the row's tolerance (floor 1e-3). */
START_TEST(two_ranks_equal_one_rank)
{
    const objective_case *oc = &OBJECTIVES[_i];
    char keys[1024], run1[64], run2[64];
    snprintf(run1, sizeof run1, "eq1-%s", oc->name);
    snprintf(run2, sizeof run2, "eq2-%s", oc->name);
    snprintf(keys, sizeof keys, "%s steps=6 batch_size=8", oc->keys);
    train_ok(1, run1, keys);
    snprintf(keys, sizeof keys, "%s steps=6 batch_size=4", oc->keys);
    train_ok(2, run2, keys);
    char *a = test_ckpt_of(dir, run1, 6), *b = test_ckpt_of(dir, run2, 6);
    double dp = section_diff(a, b, "params"), dm = section_diff(a, b, "adam_m");
    ck_assert_msg(dp < oc->tol, "%s: params differ by %g (relative)", oc->name, dp);
    ck_assert_msg(dm < 1e-3, "%s: adam_m differs by %g (relative)", oc->name, dm);
    /* and training moved the parameters: the comparison is not vacuous */
    size_t n0, n1;
    float *p = read_floats(a, "params", &n1), *e = read_floats(a, "ema", &n0);
    ck_assert(test_max_rel_err(p, e, n1, 1e-3) > 1e-3);
    free(p);
    free(e);
    free(a);
    free(b);
}
END_TEST

/* 1 rank with batch 8 == 1 rank with batch 4 x 2 accumulation steps
 * (mdlm: tolerance as its 2-rank row, measured 1.4e-4). */
START_TEST(accumulation_equals_large_batch)
{
    char keys[1024];
    snprintf(keys, sizeof keys, "%s steps=4 batch_size=8", OBJECTIVES[1].keys);
    train_ok(1, "acc1", keys);
    snprintf(keys, sizeof keys, "%s steps=4 batch_size=4 grad_accum=2", OBJECTIVES[1].keys);
    train_ok(1, "acc2", keys);
    char *a = test_ckpt_of(dir, "acc1", 4), *b = test_ckpt_of(dir, "acc2", 4);
    double d = section_diff(a, b, "params");
    ck_assert_msg(d < OBJECTIVES[1].tol, "params differ by %g", d);
    free(a);
    free(b);
}
END_TEST

/* Run 8 steps straight, checkpointing at 4 and 8; resume from step 4 in a
 * fresh directory and run to 8: params, Adam moments and EMA are bitwise
 * equal to the straight run's. (Both runs have steps=8: the LR schedule
 * depends on the total.) */
START_TEST(resume_is_bitwise)
{
    const objective_case *oc = &OBJECTIVES[_i];
    char keys[2048], straight[64], rest[64];
    snprintf(straight, sizeof straight, "straight-%s", oc->name);
    snprintf(rest, sizeof rest, "rest-%s", oc->name);
    snprintf(keys, sizeof keys, "%s steps=8 batch_size=4 ckpt_every=4 ckpt_keep=2", oc->keys);
    train_ok(2, straight, keys);
    char *mid = test_ckpt_of(dir, straight, 4);
    snprintf(keys, sizeof keys, "%s steps=8 batch_size=4 resume=%s", oc->keys, mid);
    char *out = NULL;
    ck_assert_int_eq(train(2, rest, keys, &out), 0);
    ck_assert_msg(strstr(out, "resumed from checkpoint") != NULL, "%s", out);
    free(out);
    char *a = test_ckpt_of(dir, straight, 8), *b = test_ckpt_of(dir, rest, 8);
    const char *sections[] = {"params", "adam_m", "adam_v", "ema"};
    for (int i = 0; i < 4; i++)
        ck_assert_msg(test_ckpt_sections_equal(a, b, sections[i]), "%s: section %s differs",
                      oc->name, sections[i]);
    free(a);
    free(b);
    free(mid);
}
END_TEST

/* SIGUSR1 mid-run, delivered to rank 0 only (as a stray signal would be):
 * every rank agrees to checkpoint at the next step boundary and exits with
 * preempt_exit_code; resume=auto then finishes the run, bitwise equal to an
 * uninterrupted run. debug_signal_step makes the signal's arrival step
 * deterministic; tests/integration sends real signals. */
START_TEST(signal_checkpoint_and_resume)
{
    const char *keys = "objective=mdlm steps=40 batch_size=4 preempt_exit_code=99";
    train_ok(2, "sig-straight", keys);
    char *sig_keys = test_strf("%s debug_signal_step=15", keys), *out = NULL;
    ck_assert_int_eq(train(2, "sig", sig_keys, &out), 99);
    ck_assert_msg(strstr(out, "stop requested") != NULL, "%s", out);
    free(out);
    char *at15 = test_ckpt_of(dir, "sig", 15);
    ck_assert_msg(access(at15, F_OK) == 0, "no checkpoint at the signal step: %s", at15);
    free(at15);
    char *resume = NULL;
    ck_assert_int_eq(train(2, "sig", sig_keys, &resume), 0);
    free(sig_keys);
    ck_assert_msg(strstr(resume, "resumed from checkpoint") != NULL, "%s", resume);
    free(resume);
    char *a = test_ckpt_of(dir, "sig-straight", 40), *b = test_ckpt_of(dir, "sig", 40);
    ck_assert(test_ckpt_sections_equal(a, b, "params"));
    ck_assert(test_ckpt_sections_equal(a, b, "adam_v"));
    free(a);
    free(b);
}
END_TEST

/* Corrupted, truncated, foreign or mismatched checkpoints: a clear error
 * naming the file and a nonzero exit from duet-train and duet-sample. */
START_TEST(bad_checkpoints_are_rejected)
{
    train_ok(1, "good", "objective=mdlm steps=2 batch_size=4");
    char *good = test_ckpt_of(dir, "good", 2);
    size_t n = 0;
    unsigned char *bytes = test_read_file(good, &n);
    ck_assert_uint_gt(n, 1000);
    char *sub = test_strf("%s/bad", dir);
    mkdir(sub, 0777);
    struct {
        const char *name, *expect;
        size_t len;
        long flip; /* byte to flip, -1 none */
    } cases[] = {
        {"flip.duet", "corrupt", n, (long)n - 100},
        {"trunc.duet", "", n / 2, -1},
        {"magic.duet", "not a duet checkpoint", n, 0},
    };
    char *sample = test_bin("duet-sample");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char *copy = duet_malloc(n);
        memcpy(copy, bytes, n);
        if (cases[i].flip >= 0)
            copy[cases[i].flip] ^= 0x5a;
        char *path = test_write_file(sub, cases[i].name, copy, cases[i].len);
        char *keys = test_strf("objective=mdlm steps=4 batch_size=4 resume=%s", path), *out = NULL;
        ck_assert_int_ne(train(1, "bad-run", keys, &out), 0);
        free(keys);
        ck_assert_msg(strstr(out, path) && strstr(out, cases[i].expect), "case %s:\n%s",
                      cases[i].name, out);
        free(out);
        char *cmd = test_strf("%s ckpt=%s n_samples=1", sample, path);
        ck_assert_int_eq(test_run(cmd, &out), 1);
        free(cmd);
        ck_assert_msg(strstr(out, "duet-sample: error:") && strstr(out, path), "%s", out);
        free(out);
        free(copy);
        free(path);
    }
    /* a checkpoint of another objective, and one whose sizes do not match the config */
    char keys[8192], *out = NULL;
    snprintf(keys, sizeof keys, "objective=ar steps=4 batch_size=4 resume=%s", good);
    ck_assert_int_ne(train(1, "bad-run2", keys, &out), 0);
    ck_assert_msg(strstr(out, "mdlm") && strstr(out, "ar"), "%s", out);
    free(out);
    snprintf(keys, sizeof keys, "objective=mdlm dim=64 steps=4 batch_size=4 resume=%s", good);
    ck_assert_int_ne(train(1, "bad-run3", keys, &out), 0);
    ck_assert_msg(strstr(out, "params"), "%s", out);
    free(out);
    free(sample);
    free(bytes);
    free(good);
    free(sub);
}
END_TEST

/* duet-sample reads the trainer's checkpoint; same seed, same text (also
 * with another sample_batch); another seed, other text. */
START_TEST(sampler_is_deterministic)
{
    const objective_case *oc = &OBJECTIVES[_i];
    char run[64], keys[1024];
    snprintf(run, sizeof run, "samp-%s", oc->name);
    snprintf(keys, sizeof keys, "%s steps=3 batch_size=4", oc->keys);
    train_ok(1, run, keys);
    char *ck = test_ckpt_of(dir, run, 3), *sample = test_bin("duet-sample");
    const char *variants[3] = {"seed=3", "seed=3 sample_batch=2", "seed=4"};
    char *text[3];
    for (int v = 0; v < 3; v++) {
        char *path = test_strf("%s/%s-%d.jsonl", dir, run, v);
        char *cmd = test_strf("%s ckpt=%s n_samples=5 sample_steps=4 format=jsonl output=%s %s",
                              sample, ck, path, variants[v]);
        ck_assert_int_eq(test_run(cmd, NULL), 0);
        text[v] = test_read_file(path, NULL);
        ck_assert_ptr_nonnull(text[v]);
        free(cmd);
        free(path);
    }
    char *o1 = text[0], *o2 = text[1], *o3 = text[2];
    ck_assert_str_eq(o1, o2);
    ck_assert_str_ne(o1, o3);
    int lines = 0;
    for (char *p = o1; *p; p++)
        lines += *p == '\n';
    ck_assert_int_eq(lines, 5);
    ck_assert_ptr_nonnull(strstr(o1, "{\"index\":4,\"text\":"));
    free(o1);
    free(o2);
    free(o3);
    free(ck);
    free(sample);
}
END_TEST

/* duet-eval end to end: an AR judge scores mdlm samples against held-out
 * text; bad inputs (empty samples, mismatched seq2seq counts, a judge with
 * another tokenizer than the generator) are clear errors. */
START_TEST(eval_tool)
{
    train_ok(1, "judge", "objective=ar steps=2 batch_size=4");
    train_ok(1, "gen", "objective=mdlm steps=2 batch_size=4");
    char *judge = test_ckpt_of(dir, "judge", 2), *gen = test_ckpt_of(dir, "gen", 2);
    char *sample = test_bin("duet-sample"), *eval = test_bin("duet-eval");
    char *samples = test_strf("%s/gen.txt", dir), *json = test_strf("%s/eval.json", dir);
    char *cmd = test_strf("%s ckpt=%s n_samples=24 sample_steps=4 output=%s", sample, gen, samples);
    ck_assert_int_eq(test_run(cmd, NULL), 0);
    free(cmd);
    char *out = NULL;
    cmd = test_strf("%s samples=%s references=shards/brown-valid.txt.gz eval_max_texts=24 judge=%s "
                    "ckpt=%s mem_corpus=shards/brown-valid.txt.gz output=%s",
                    eval, samples, judge, gen, json);
    ck_assert_msg(test_run(cmd, &out) == 0, "%s", out);
    free(cmd);
    free(out);
    char *res = test_read_file(json, NULL);
    const char *keys[] = {"\"n_samples\": 24", "\"ppl_trim\": ", "\"ppl_corpus\": ",
                          "\"mauve\": ", "\"div\": ", "\"mem\": ", "\"self_bleu\": "};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        ck_assert_msg(strstr(res, keys[i]) != NULL, "missing %s in %s", keys[i], res);
    free(res);

    /* empty samples file */
    char *empty = test_write_file(dir, "empty.txt", "", 0);
    cmd = test_strf("%s samples=%s", eval, empty);
    ck_assert_int_eq(test_run(cmd, &out), 1);
    ck_assert_msg(strstr(out, "duet-eval: error:") && strstr(out, empty), "%s", out);
    free(cmd);
    free(out);
    /* seq2seq with fewer references than samples */
    char *two = test_write_file(dir, "two.txt", "a b c\nd e f\n", 12);
    cmd = test_strf("%s samples=%s eval_mode=seq2seq references=%s", eval, samples, two);
    ck_assert_int_eq(test_run(cmd, &out), 1);
    ck_assert_msg(strstr(out, "duet-eval: error:") != NULL, "%s", out);
    free(cmd);
    free(out);
    /* a judge whose tokenizer differs from the generator's */
    char *prep = test_bin("duet-prep");
    cmd = test_strf("%s tokenizer input=shards/brown-valid.txt.gz vocab_size=400 tokenizer=%s/tok2.bin "
                    "&& %s shards input=shards/brown-valid.txt.gz tokenizer=%s/tok2.bin out_dir=%s/data2",
                    prep, dir, prep, dir, dir);
    ck_assert_int_eq(test_run(cmd, NULL), 0);
    free(cmd);
    char *conf2 = test_strf("%s/other.conf", dir);
    char *conf_text = test_strf("tokenizer = %s/tok2.bin\ntrain_data = %s/data2/train\n", dir, dir);
    free(test_write_file(dir, "other.conf", conf_text, strlen(conf_text)));
    char *train_bin = test_bin("duet-train");
    cmd = test_strf("launch/duet-mpirun.sh -np 1 %s %s/base.conf %s objective=ar steps=1 batch_size=4 "
                    "run_dir=%s/judge2",
                    train_bin, dir, conf2, dir);
    ck_assert_int_eq(test_run(cmd, NULL), 0);
    free(cmd);
    char *judge2 = test_ckpt_of(dir, "judge2", 1);
    cmd = test_strf("%s samples=%s judge=%s ckpt=%s", eval, samples, judge2, gen);
    ck_assert_int_eq(test_run(cmd, &out), 1);
    ck_assert_msg(strstr(out, "tokenizer") && strstr(out, gen), "%s", out);
    free(cmd);
    free(out);
    free(judge2);
    free(train_bin);
    free(conf_text);
    free(conf2);
    free(prep);
    free(two);
    free(empty);
    free(samples);
    free(json);
    free(sample);
    free(eval);
    free(judge);
    free(gen);
}
END_TEST

/* Bad configuration: a clear message and exit 1 on every rank. */
START_TEST(config_errors_exit_nonzero)
{
    char *out = NULL;
    ck_assert_int_eq(train(2, "cfg", "objective=mdlm n_head=3", &out), 1);
    ck_assert_msg(strstr(out, "n_head") != NULL, "%s", out);
    free(out);
    ck_assert_int_eq(train(1, "cfg", "objective=mdlm batch_sise=4", &out), 1);
    ck_assert_msg(strstr(out, "did you mean 'batch_size'") != NULL, "%s", out);
    free(out);
    char cmd[8192], *train_bin = test_bin("duet-train");
    snprintf(cmd, sizeof cmd,
             "launch/duet-mpirun.sh -np 1 %s tokenizer=%s/missing.bin train_data=x run_dir=%s/never",
             train_bin, dir, dir);
    ck_assert_int_eq(test_run(cmd, &out), 1);
    ck_assert_msg(strstr(out, "missing.bin") != NULL, "%s", out);
    free(out);
    free(train_bin);
    /* a failed start leaves no run directory behind */
    char *never = test_strf("%s/never", dir);
    ck_assert_int_ne(access(never, F_OK), 0);
    free(never);
}
END_TEST

Suite *suite_train(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("end_to_end");
    tcase_add_unchecked_fixture(tc, make_data, remove_data);
    int nobj = (int)(sizeof OBJECTIVES / sizeof OBJECTIVES[0]);
    tcase_add_loop_test(tc, two_ranks_equal_one_rank, 0, nobj);
    tcase_add_test(tc, accumulation_equals_large_batch);
    tcase_add_loop_test(tc, resume_is_bitwise, 0, nobj);
    tcase_add_test(tc, signal_checkpoint_and_resume);
    tcase_add_test(tc, bad_checkpoints_are_rejected);
    tcase_add_loop_test(tc, sampler_is_deterministic, 0, nobj);
    tcase_add_test(tc, config_errors_exit_nonzero);
    tcase_add_test(tc, eval_tool);
    suite_add_tcase(s, tc);
    return s;
}
