/* Evaluation texts: tokenizers, line/JSONL/gzip readers, bad input, report. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "duet/eval.h"
#include "testutil.h"

/* Tokens of s joined by '|'. */
static char *joined(const char *s, int rouge)
{
    duet_spans sp = {0};
    if (rouge)
        duet_tokenize_rouge(s, strlen(s), &sp);
    else
        duet_tokenize_words(s, strlen(s), &sp);
    char *out = duet_malloc(4 * strlen(s) + 2);
    size_t n = 0;
    for (size_t i = 0; i < sp.n; i++) {
        if (i)
            out[n++] = '|';
        memcpy(out + n, s + sp.v[i].off, sp.v[i].len);
        n += sp.v[i].len;
    }
    out[n] = '\0';
    duet_spans_free(&sp);
    return out;
}

static void check_tokens(const char *s, int rouge, const char *want)
{
    char *got = joined(s, rouge);
    ck_assert_msg(strcmp(got, want) == 0, "tokens of \"%s\": got \"%s\", want \"%s\"", s, got,
                  want);
    free(got);
}

START_TEST(word_tokens)
{
    check_tokens("(don't).", 0, "(|do|n't|)|.");
    check_tokens("He's here, isn't he?", 0, "He|'s|here|,|is|n't|he|?");
    check_tokens("  I'M\tgoing\n\nwe'll we've they're I'd ", 0,
                 "I|'M|going|we|'ll|we|'ve|they|'re|I|'d");
    check_tokens("can't CAN'T", 0, "ca|n't|CA|N'T");
    /* UTF-8 quotes and the typographic apostrophe */
    check_tokens("\xe2\x80\x9cJohn\xe2\x80\x99s\xe2\x80\x9d \xc2\xabx\xc2\xbb", 0,
                 "\xe2\x80\x9c|John|\xe2\x80\x99s|\xe2\x80\x9d|\xc2\xab|x|\xc2\xbb");
    /* one token per punctuation character; internal punctuation stays */
    check_tokens("... U.S. e-mail 3.5% $10", 0, ".|.|.|U.S|.|e-mail|3.5|%|$|10");
    /* a clitic needs something before it; a lone "'s" is punctuation + s */
    check_tokens("'s n't dogs'", 0, "'|s|n't|dogs|'");
    check_tokens("Case Kept", 0, "Case|Kept");
    check_tokens("", 0, "");
    check_tokens(" \t\n ", 0, "");
}
END_TEST

START_TEST(rouge_tokens)
{
    /* runs of [A-Za-z0-9]; everything else, non-ASCII included, separates
     * (callers lowercase) */
    check_tokens("Hello, World! caf\xc3\xa9 x2 -- a_b", 1, "Hello|World|caf|x2|a|b");
    check_tokens("...", 1, "");
}
END_TEST

static void texts_eq(const duet_texts *t, size_t i, const char *want, size_t want_len)
{
    size_t len;
    const char *s = duet_texts_get(t, i, &len);
    ck_assert_uint_eq(len, want_len);
    ck_assert(memcmp(s, want, len) == 0);
    ck_assert_int_eq(s[len], '\0');
}

START_TEST(read_lines_and_jsonl)
{
    char *dir = test_tmpdir();
    duet_err err;
    /* lines: empty lines are (empty) texts, CRLF and a missing final newline */
    const char lines[] = "a b\n\nc\r\nlast";
    char *p = test_write_file(dir, "s.txt", lines, sizeof lines - 1);
    duet_texts t;
    duet_texts_init(&t);
    ck_assert_int_eq(duet_texts_read(&t, p, "auto", NULL, &err), 0);
    ck_assert_uint_eq(t.n, 4);
    texts_eq(&t, 0, "a b", 3);
    texts_eq(&t, 1, "", 0);
    texts_eq(&t, 2, "c", 1);
    texts_eq(&t, 3, "last", 4);
    ck_assert_str_eq(t.source, p);
    duet_texts_free(&t);
    free(p);

    /* JSONL by extension; blank lines skipped; escapes decoded; a NUL kept */
    const char jl[] = "{\"text\": \"one\"}\n\n{\"id\": 2, \"text\": \"two\\nlines\\u0000!\"}\n";
    p = test_write_file(dir, "s.jsonl", jl, sizeof jl - 1);
    duet_texts_init(&t);
    ck_assert_int_eq(duet_texts_read(&t, p, "auto", "text", &err), 0);
    ck_assert_uint_eq(t.n, 2);
    texts_eq(&t, 0, "one", 3);
    texts_eq(&t, 1, "two\nlines\0!", 11);
    duet_texts_free(&t);
    free(p);

    /* another field, explicit format, appending to an existing list */
    const char pairs[] = "{\"source\": \"s\", \"target\": \"T1\"}\n{\"target\": \"T2\"}\n";
    p = test_write_file(dir, "pairs.json", pairs, sizeof pairs - 1);
    duet_texts_init(&t);
    duet_texts_push(&t, "first", 5);
    ck_assert_int_eq(duet_texts_read(&t, p, "jsonl", "target", &err), 0);
    ck_assert_uint_eq(t.n, 3);
    texts_eq(&t, 0, "first", 5);
    texts_eq(&t, 2, "T2", 2);
    duet_texts_free(&t);
    free(p);

    /* gzip is read transparently, long lines included */
    size_t big = 200000;
    char *long_line = duet_malloc(big);
    memset(long_line, 'x', big);
    char *gzpath = duet_malloc(strlen(dir) + 16);
    sprintf(gzpath, "%s/g.txt.gz", dir);
    gzFile gz = gzopen(gzpath, "wb");
    ck_assert_ptr_nonnull(gz);
    ck_assert_int_eq(gzwrite(gz, "short\n", 6), 6);
    ck_assert_int_eq(gzwrite(gz, long_line, (unsigned)big), (int)big);
    ck_assert_int_eq(gzwrite(gz, "\nend\n", 5), 5);
    ck_assert_int_eq(gzclose(gz), Z_OK);
    duet_texts_init(&t);
    ck_assert_int_eq(duet_texts_read(&t, gzpath, "lines", NULL, &err), 0);
    ck_assert_uint_eq(t.n, 3);
    texts_eq(&t, 1, long_line, big);
    texts_eq(&t, 2, "end", 3);
    duet_texts_free(&t);
    free(gzpath);
    free(long_line);
    test_rmtree(dir);
    free(dir);
}
END_TEST

/* Reading path must fail with a message containing every needle. */
static void read_fails(const char *path, const char *format, const char *needle1,
                       const char *needle2)
{
    duet_texts t;
    duet_texts_init(&t);
    duet_texts_push(&t, "kept", 4);
    duet_err err = {{0}};
    ck_assert_int_eq(duet_texts_read(&t, path, format, "text", &err), -1);
    ck_assert_msg(strstr(err.msg, needle1) && (!needle2 || strstr(err.msg, needle2)),
                  "message \"%s\" lacks \"%s\" / \"%s\"", err.msg, needle1,
                  needle2 ? needle2 : "");
    ck_assert_uint_eq(t.n, 1); /* nothing half-appended */
    duet_texts_free(&t);
}

START_TEST(bad_text_files)
{
    char *dir = test_tmpdir();
    char *empty = test_write_file(dir, "empty.txt", "", 0);
    read_fails(empty, "auto", empty, "no texts");
    const char bad[] = "{\"text\": \"ok\"}\n{\"text\": \"oops\n{\"text\": \"x\"}\n";
    char *p = test_write_file(dir, "bad.jsonl", bad, sizeof bad - 1);
    char want[4200];
    snprintf(want, sizeof want, "%s:2", p);
    read_fails(p, "auto", want, NULL);
    const char missing[] = "{\"text\": \"ok\"}\n\n{\"other\": \"x\"}\n";
    char *q = test_write_file(dir, "missing.jsonl", missing, sizeof missing - 1);
    snprintf(want, sizeof want, "%s:3", q);
    read_fails(q, "jsonl", want, "\"text\"");
    const char notstr[] = "{\"text\": 7}\n";
    char *r = test_write_file(dir, "num.jsonl", notstr, sizeof notstr - 1);
    snprintf(want, sizeof want, "%s:1", r);
    read_fails(r, "jsonl", want, NULL);
    char *nofile = duet_malloc(strlen(dir) + 16);
    sprintf(nofile, "%s/absent.txt", dir);
    read_fails(nofile, "lines", nofile, "cannot open");
    read_fails(empty, "csv", "csv", "unknown text format");
    free(empty);
    free(p);
    free(q);
    free(r);
    free(nofile);
    test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(report_output)
{
    duet_report r = {0};
    duet_report_num(&r, "ppl_trim", 12.5);
    duet_report_num(&r, "mauve", NAN);
    duet_report_num(&r, "n", 1000);
    duet_report_str(&r, "samples", "a\"b.txt");
    duet_report_num(&r, "x", 0.1);
    duet_report_num(&r, "third", 1.0 / 3);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(duet_report_write_json(&r, f), 0);
    fclose(f);
    /* numbers in the fewest digits that read back exactly */
    ck_assert_str_eq(buf, "{\"ppl_trim\": 12.5, \"mauve\": null, \"n\": 1000, "
                          "\"samples\": \"a\\\"b.txt\", \"x\": 0.1, "
                          "\"third\": 0.3333333333333333}\n");
    ck_assert_double_eq(strtod(strstr(buf, "0.333"), NULL), 1.0 / 3);
    free(buf);
    f = open_memstream(&buf, &len);
    ck_assert_int_eq(duet_report_write_table(&r, f), 0);
    fclose(f);
    /* names padded to the longest (8), two spaces, value */
    ck_assert_str_eq(buf, "metric    value\n"
                          "ppl_trim  12.5\n"
                          "mauve     n/a\n"
                          "n         1000\n"
                          "samples   a\"b.txt\n"
                          "x         0.1\n"
                          "third     0.333333\n");
    free(buf);
    duet_report_free(&r);
}
END_TEST

Suite *suite_eval_text(void)
{
    Suite *s = suite_create("eval_text");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, word_tokens);
    tcase_add_test(tc, rouge_tokens);
    tcase_add_test(tc, read_lines_and_jsonl);
    tcase_add_test(tc, bad_text_files);
    tcase_add_test(tc, report_output);
    suite_add_tcase(s, tc);
    return s;
}
