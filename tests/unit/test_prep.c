/* The duet-prep binary: help, errors, and tokenizer -> shards -> stats. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "textgen.h"

static int prep(const char *args, char **out)
{
    char *bin = test_bin("duet-prep");
    char *cmd = test_strf("%s %s", bin, args);
    int rc = test_run(cmd, out);
    free(cmd);
    free(bin);
    return rc;
}

static void expect(const char *args, int want_rc, const char *needle)
{
    char *out = NULL;
    int rc = prep(args, &out);
    ck_assert_msg(rc == want_rc, "duet-prep %s: exit %d, want %d; output:\n%s", args, rc,
                  want_rc, out);
    ck_assert_msg(strstr(out, needle), "duet-prep %s: output lacks '%s':\n%s", args, needle, out);
    free(out);
}

START_TEST(help_and_errors)
{
    expect("--help", 0, "tokenizer");
    expect("tokenizer --help", 0, "vocab_size");
    expect("shards --help", 0, "num_shards");
    expect("stats --help", 0, "bytes of text per token");
    expect("", 1, "usage");
    expect("frobnicate", 1, "duet-prep: error: unknown command 'frobnicate'");
    expect("tokenizer vocab_sise=10", 1, "did you mean 'vocab_size'");
    expect("tokenizer tokenizer=/tmp/x.bin", 1, "duet-prep: error: key 'input' must be set");
    expect("tokenizer input=/nonexistent/a.txt tokenizer=/tmp/x.bin", 1, "/nonexistent/a.txt");
    expect("shards input=a.txt tokenizer=/nonexistent/tok.bin", 1, "/nonexistent/tok.bin");
    expect("stats /nonexistent/dir", 1, "duet-prep: error:");
    expect("shards --print-config num_shards=3", 0, "num_shards = 3");
}
END_TEST

START_TEST(tokenizer_shards_stats)
{
    char *dir = test_tmpdir();
    size_t len;
    char *text = test_gen_text(8, 2000, 30, &len);
    char *corpus = test_write_file(dir, "c.txt", text, len);
    char args[8192];
    snprintf(args, sizeof args, "tokenizer input=%s vocab_size=400 tokenizer=%s/tok.bin", corpus,
             dir);
    expect(args, 0, "vocabulary 400");
    snprintf(args, sizeof args, "shards input=%s tokenizer=%s/tok.bin out_dir=%s/data "
             "num_shards=2 val_fraction=0.1 threads=2", corpus, dir, dir);
    expect(args, 0, "2000 records read, 0 empty skipped");
    snprintf(args, sizeof args, "stats %s/data", dir);
    expect(args, 0, "data/train: files 2, documents");
    expect(args, 0, "data/val: files 1");
    /* A corrupted shard is reported by name. */
    char path[4200];
    snprintf(path, sizeof path, "%s/data/train_00001.bin", dir);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, 300, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 300, SEEK_SET);
    fputc(c ^ 0xff, f);
    fclose(f);
    expect(args, 1, "train_00001.bin': payload checksum mismatch");
    free(corpus);
    free(text);
    test_rmtree(dir);
    free(dir);
}
END_TEST

Suite *suite_prep(void)
{
    Suite *s = suite_create("prep");
    TCase *tc = tcase_create("prep");
    tcase_add_test(tc, help_and_errors);
    tcase_add_test(tc, tokenizer_shards_stats);
    suite_add_tcase(s, tc);
    return s;
}
