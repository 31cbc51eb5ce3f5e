/* Byte-level BPE: pre-tokenizer, training against a brute-force reference,
 * determinism, round trips, special ids, and the tokenizer file checks. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../../src/data/tok_internal.h"
#include "duet/data.h"
#include "duet/rng.h"
#include "testutil.h"
#include "textgen.h"

/* Trains on one text file holding `text`. */
static duet_tokenizer *train_text(const char *text, size_t len, int vocab, duet_err *err)
{
    char *dir = test_tmpdir();
    char *path = test_write_file(dir, "corpus.txt", text, len);
    const char *paths[1] = {path};
    duet_text_spec in = {paths, 1, "lines", "text", 0, NULL, NULL};
    duet_bpe_train_opts o = {vocab, (size_t)64 << 20, 0};
    duet_tokenizer *t = duet_tokenizer_train(&in, &o, err);
    test_rmtree(dir);
    free(dir);
    free(path);
    return t;
}

static duet_tokenizer *train_default(int vocab)
{
    size_t len;
    char *text = test_gen_text(7, 400, 30, &len);
    duet_err err;
    duet_tokenizer *t = train_text(text, len, vocab, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    free(text);
    return t;
}

/* Words of s as the pre-tokenizer cuts them, joined by '|'. */
static void words(const char *s, char *out)
{
    size_t n = strlen(s), i = 0;
    *out = 0;
    while (i < n) {
        size_t w = duet_pretok_word((const uint8_t *)s + i, n - i);
        strncat(out, s + i, w);
        strcat(out, "|");
        i += w;
    }
}

START_TEST(pretokenizer_words)
{
    char out[512];
    words("Hello world, it's 2024!", out);
    ck_assert_str_eq(out, "Hello| world|,| it|'|s| 2024|!|");
    words("  two  spaces\n\nnew line", out);
    ck_assert_str_eq(out, " | two| | spaces|\n\n|new| line|");
    words("caf\xc3\xa9 ...", out);
    ck_assert_str_eq(out, "caf\xc3\xa9| ...|");
    words(" ", out);
    ck_assert_str_eq(out, " |");
    /* Runs longer than a word are cut at DUET_TOK_MAX_WORD bytes. */
    char longw[200];
    memset(longw, 'a', 150);
    longw[150] = 0;
    ck_assert_uint_eq(duet_pretok_word((const uint8_t *)longw, 150), DUET_TOK_MAX_WORD);
}
END_TEST

/* ---- brute-force reference BPE: recount every pair before each merge */

typedef struct ref_word {
    int32_t sym[DUET_TOK_MAX_WORD];
    int n;
    long count;
} ref_word;

static int cmp_bytes(const void *a, const void *b)
{
    const char *const *x = a, *const *y = b;
    return strcmp(*x, *y);
}

static uint32_t ref_bpe(const char *text, size_t len, uint32_t max_merges, uint32_t *merges)
{
    /* Words (as NUL-terminated strings; the test text has no NUL). */
    size_t cap = len + 1, nw = 0;
    char **w = malloc(cap * sizeof *w);
    for (size_t i = 0; i < len;) {
        size_t k = duet_pretok_word((const uint8_t *)text + i, len - i);
        if (k > 1) {
            w[nw] = strndup(text + i, k);
            nw++;
        }
        i += k;
    }
    qsort(w, nw, sizeof *w, cmp_bytes);
    ref_word *rw = calloc(nw + 1, sizeof *rw);
    size_t nu = 0;
    for (size_t i = 0; i < nw; i++) {
        if (nu > 0 && i > 0 && strcmp(w[i], w[i - 1]) == 0) {
            rw[nu - 1].count++;
            continue;
        }
        rw[nu].n = (int)strlen(w[i]);
        for (int j = 0; j < rw[nu].n; j++)
            rw[nu].sym[j] = DUET_TOK_BYTE0 + (uint8_t)w[i][j];
        rw[nu].count = 1;
        nu++;
    }
    uint32_t V = DUET_TOK_NBASE + max_merges;
    long *cnt = malloc(sizeof(long) * V * V);
    uint32_t k = 0;
    for (; k < max_merges; k++) {
        memset(cnt, 0, sizeof(long) * V * V);
        for (size_t i = 0; i < nu; i++)
            for (int j = 0; j + 1 < rw[i].n; j++)
                cnt[rw[i].sym[j] * V + rw[i].sym[j + 1]] += rw[i].count;
        long best = 0;
        uint32_t ba = 0, bb = 0;
        for (uint32_t a = 0; a < V; a++)
            for (uint32_t b = 0; b < V; b++)
                if (cnt[a * V + b] > best) {
                    best = cnt[a * V + b];
                    ba = a;
                    bb = b;
                }
        if (best == 0)
            break;
        merges[2 * k] = ba;
        merges[2 * k + 1] = bb;
        int32_t z = (int32_t)(DUET_TOK_NBASE + k);
        for (size_t i = 0; i < nu; i++) {
            int o = 0;
            for (int j = 0; j < rw[i].n; j++) {
                if (j + 1 < rw[i].n && rw[i].sym[j] == (int32_t)ba &&
                    rw[i].sym[j + 1] == (int32_t)bb) {
                    rw[i].sym[o++] = z;
                    j++;
                } else {
                    rw[i].sym[o++] = rw[i].sym[j];
                }
            }
            rw[i].n = o;
        }
    }
    for (size_t i = 0; i < nw; i++)
        free(w[i]);
    free(w);
    free(rw);
    free(cnt);
    return k;
}

/* Merge list of a tokenizer, from its file bytes. */
static uint32_t merges_of(const duet_tokenizer *t, uint32_t *merges)
{
    size_t n;
    uint8_t *b = duet_tokenizer_to_bytes(t, &n);
    uint32_t k = (uint32_t)((n - 36) / 8);
    for (uint32_t i = 0; i < 2 * k; i++)
        merges[i] = (uint32_t)b[32 + 4 * i] | (uint32_t)b[33 + 4 * i] << 8 |
                    (uint32_t)b[34 + 4 * i] << 16 | (uint32_t)b[35 + 4 * i] << 24;
    free(b);
    return k;
}

START_TEST(hand_computed_merges)
{
    /* Words: "ab" x1, " ab" x2, " cd" x1. Counts: (a,b)=3 -> first; then
     * (' ',ab)=2; then (' ',c)=1 ties (c,d)=1 and wins on smaller ids; then
     * (' c', d). Nothing is left, so the vocabulary stops at 276. */
    duet_err err;
    duet_tokenizer *t = train_text("ab ab ab cd\n", 12, 400, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    ck_assert_int_eq(duet_tokenizer_vocab_size(t), DUET_TOK_NBASE + 4);
    uint32_t m[8];
    ck_assert_uint_eq(merges_of(t, m), 4);
    const uint32_t sp = DUET_TOK_BYTE0 + ' ', a = DUET_TOK_BYTE0 + 'a', b = DUET_TOK_BYTE0 + 'b';
    const uint32_t c = DUET_TOK_BYTE0 + 'c', d = DUET_TOK_BYTE0 + 'd';
    const uint32_t want[8] = {a, b, sp, 272, sp, c, 274, d};
    for (int i = 0; i < 8; i++)
        ck_assert_uint_eq(m[i], want[i]);
    duet_tokenizer_free(t);
}
END_TEST

START_TEST(incremental_matches_brute_force)
{
    for (uint64_t seed = 1; seed <= 3; seed++) {
        size_t len;
        char *text = test_gen_text(seed, 150, 25, &len);
        uint32_t want = 220, ref[440], got[440];
        uint32_t nref = ref_bpe(text, len, want, ref);
        duet_err err;
        duet_tokenizer *t = train_text(text, len, (int)(DUET_TOK_NBASE + want), &err);
        ck_assert_msg(t != NULL, "%s", err.msg);
        uint32_t ngot = merges_of(t, got);
        ck_assert_uint_eq(ngot, nref);
        for (uint32_t i = 0; i < 2 * nref; i++)
            ck_assert_msg(got[i] == ref[i], "seed %llu merge %u differs", (unsigned long long)seed,
                          i / 2);
        duet_tokenizer_free(t);
        free(text);
    }
}
END_TEST

START_TEST(training_is_deterministic)
{
    duet_tokenizer *a = train_default(700), *b = train_default(700);
    size_t na, nb;
    void *ba = duet_tokenizer_to_bytes(a, &na), *bb = duet_tokenizer_to_bytes(b, &nb);
    ck_assert_uint_eq(na, nb);
    ck_assert(memcmp(ba, bb, na) == 0);
    ck_assert_uint_eq(duet_tokenizer_id(a), duet_tokenizer_id(b));
    ck_assert_uint_ne(duet_tokenizer_id(a), 0);
    /* Merged tokens never span a word boundary. */
    for (int id = DUET_TOK_NBASE; id < duet_tokenizer_vocab_size(a); id++) {
        size_t len;
        const char *s = duet_tokenizer_token_bytes(a, id, &len);
        ck_assert_uint_ge(len, 2);
        ck_assert_uint_eq(duet_pretok_word((const uint8_t *)s, len), len);
    }
    free(ba);
    free(bb);
    duet_tokenizer_free(a);
    duet_tokenizer_free(b);
}
END_TEST

static void check_roundtrip(duet_tokenizer *t, const char *s, size_t n)
{
    size_t nid, dlen;
    int32_t *ids = duet_tokenizer_encode(t, s, n, &nid);
    for (size_t i = 0; i < nid; i++) {
        ck_assert_int_ge(ids[i], DUET_TOK_NSPECIAL); /* never a special id */
        ck_assert_int_lt(ids[i], duet_tokenizer_vocab_size(t));
    }
    char *back = duet_tokenizer_decode(t, ids, nid, &dlen);
    ck_assert_uint_eq(dlen, n);
    ck_assert(memcmp(back, s, n) == 0);
    ck_assert_int_eq(back[dlen], 0);
    free(ids);
    free(back);
}

START_TEST(roundtrip_random_bytes)
{
    duet_tokenizer *t = train_default(800);
    duet_rng r = duet_rng_keyed(99, 0, 0, DUET_STREAM_USER);
    char buf[3000];
    for (int it = 0; it < 300; it++) {
        size_t n = duet_rng_below(&r, sizeof buf);
        int mode = it % 3;
        for (size_t i = 0; i < n; i++) {
            uint32_t u = duet_rng_u32(&r);
            if (mode == 0) /* any byte: NUL, invalid UTF-8, control bytes */
                buf[i] = (char)(u & 0xff);
            else if (mode == 1) /* mostly text with stray high bytes */
                buf[i] = (u & 0xf00) ? "the ab, 1.\n"[u % 11] : (char)(u & 0xff);
            else /* long runs that exceed a word */
                buf[i] = (u % 97 == 0) ? ' ' : 'e';
        }
        check_roundtrip(t, buf, n);
    }
    check_roundtrip(t, "", 0);
    /* Special ids decode to nothing; out-of-range ids too. */
    int32_t ids[5] = {DUET_TOK_BOS, DUET_TOK_BYTE0 + 'h', DUET_TOK_MASK, DUET_TOK_BYTE0 + 'i',
                      1 << 30};
    size_t len;
    char *s = duet_tokenizer_decode(t, ids, 5, &len);
    ck_assert_str_eq(s, "hi");
    free(s);
    duet_tokenizer_free(t);
}
END_TEST

START_TEST(roundtrip_corpus_compresses)
{
    duet_tokenizer *t = train_default(1000);
    size_t len, nid;
    char *text = test_gen_text(12345, 300, 30, &len); /* unseen text, same style */
    check_roundtrip(t, text, len);
    int32_t *ids = duet_tokenizer_encode(t, text, len, &nid);
    /* The word list has ~70 words, so training stops early (the sample has
     * no pairs left) with nearly every word one token: > 3 bytes per token,
     * where bytes alone would give 1. */
    ck_assert_int_lt(duet_tokenizer_vocab_size(t), 1000);
    ck_assert_msg((double)len / (double)nid > 3.0, "%.2f bytes/token", (double)len / (double)nid);
    /* Encoding one document at a time or all at once differs only at the
     * document boundaries: the cache never changes results. */
    duet_tok_encoder *e = duet_tok_encoder_create(t);
    int32_t *again = NULL;
    size_t n2 = 0, cap = 0;
    duet_tok_encode_append(e, text, len, &again, &n2, &cap);
    ck_assert_uint_eq(n2, nid);
    ck_assert(memcmp(again, ids, nid * sizeof *ids) == 0);
    duet_tok_encoder_free(e);
    free(again);
    free(ids);
    free(text);
    duet_tokenizer_free(t);
}
END_TEST

START_TEST(roundtrip_embedded_brown)
{
    /* The repository's own corpus (tests run from the repository root):
     * train on the first 512 KB, round-trip unseen text from further on. */
    const char *path = "shards/brown-train.txt.gz";
    const char *paths[1] = {path};
    duet_text_spec in = {paths, 1, "auto", "text", 0, NULL, NULL};
    duet_bpe_train_opts o = {2000, (size_t)512 << 10, 0};
    duet_err err;
    duet_tokenizer *t = duet_tokenizer_train(&in, &o, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    ck_assert_int_eq(duet_tokenizer_vocab_size(t), 2000);
    gzFile g = gzopen(path, "rb");
    ck_assert_ptr_nonnull(g);
    static char buf[1 << 20];
    int n = gzread(g, buf, sizeof buf);
    gzclose(g);
    ck_assert_int_eq(n, (int)sizeof buf);
    const char *chunk = buf + (768 << 10);
    size_t len = 256 << 10, nid;
    check_roundtrip(t, chunk, len);
    int32_t *ids = duet_tokenizer_encode(t, chunk, len, &nid);
    /* Bytes alone give 1 byte per token; 1728 merges from 512 KB give 2.88
     * (4.06 with 8k merges from the whole file). */
    ck_assert_msg((double)len / (double)nid > 2.5, "%.2f bytes/token", (double)len / (double)nid);
    free(ids);
    duet_tokenizer_free(t);
}
END_TEST

START_TEST(small_sample_bounds_training)
{
    /* sample_bytes caps the text used: a 1 KB sample of a long corpus gives
     * the same merges as training on that first 1 KB alone. */
    size_t len;
    char *text = test_gen_text(5, 400, 30, &len);
    char *dir = test_tmpdir();
    char *path = test_write_file(dir, "c.txt", text, len);
    const char *paths[1] = {path};
    duet_text_spec in = {paths, 1, "lines", "text", 0, NULL, NULL};
    duet_bpe_train_opts o = {600, 1024, 0};
    duet_err err;
    duet_tokenizer *a = duet_tokenizer_train(&in, &o, &err);
    ck_assert_msg(a != NULL, "%s", err.msg);
    /* The sample is 1024 bytes of document text: lines without their '\n'. */
    char *first = malloc(len);
    size_t fn = 0, used = 0;
    for (const char *p = text; used < 1024;) {
        const char *nl = strchr(p, '\n');
        size_t l = DUET_MIN((size_t)(nl - p), 1024 - used);
        memcpy(first + fn, p, l);
        fn += l;
        first[fn++] = '\n';
        used += l;
        p = nl + 1;
    }
    duet_tokenizer *b = train_text(first, fn, 600, &err);
    ck_assert_msg(b != NULL, "%s", err.msg);
    ck_assert_uint_eq(duet_tokenizer_id(a), duet_tokenizer_id(b));
    duet_tokenizer_free(a);
    duet_tokenizer_free(b);
    free(first);
    free(text);
    test_rmtree(dir);
    free(dir);
    free(path);
}
END_TEST

static void put32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void fix_crc(uint8_t *b, size_t n)
{
    put32le(b + n - 4, (uint32_t)crc32(0L, b, (uInt)(n - 4)));
}

static void expect_bad(const uint8_t *b, size_t n, const char *needle)
{
    duet_err err;
    duet_tokenizer *t = duet_tokenizer_from_bytes(b, n, "tok.bin", &err);
    ck_assert_msg(t == NULL, "accepted a bad file (%s)", needle);
    ck_assert_msg(strstr(err.msg, needle) && strstr(err.msg, "tok.bin"), "message '%s' lacks '%s'",
                  err.msg, needle);
}

START_TEST(file_roundtrip_and_corruption)
{
    duet_tokenizer *t = train_default(600);
    char *dir = test_tmpdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/tok.bin", dir);
    duet_err err;
    ck_assert_int_eq(duet_tokenizer_save(t, path, &err), 0);
    duet_tokenizer *u = duet_tokenizer_load(path, &err);
    ck_assert_msg(u != NULL, "%s", err.msg);
    ck_assert_uint_eq(duet_tokenizer_id(u), duet_tokenizer_id(t));
    ck_assert_int_eq(duet_tokenizer_vocab_size(u), duet_tokenizer_vocab_size(t));
    duet_tokenizer_free(u);

    size_t n;
    uint8_t *good = duet_tokenizer_to_bytes(t, &n), *b = malloc(n);
    memcpy(b, good, n);
    b[0] = 'X';
    expect_bad(b, n, "magic");
    memcpy(b, good, n);
    put32le(b + 8, 2);
    fix_crc(b, n);
    expect_bad(b, n, "version");
    expect_bad(good, n - 1, "truncated");
    expect_bad(good, 10, "truncated");
    memcpy(b, good, n);
    b[n / 2] ^= 0x10;
    expect_bad(b, n, "checksum");
    /* Valid checksums, inconsistent merges: a merge naming a later id, a
     * special id, and a repeated pair. */
    memcpy(b, good, n);
    put32le(b + 32, DUET_TOK_NBASE + 5);
    fix_crc(b, n);
    expect_bad(b, n, "inconsistent");
    memcpy(b, good, n);
    put32le(b + 32 + 8, DUET_TOK_MASK);
    fix_crc(b, n);
    expect_bad(b, n, "inconsistent");
    memcpy(b, good, n);
    memcpy(b + 32 + 8, b + 32, 8);
    fix_crc(b, n);
    expect_bad(b, n, "inconsistent");
    /* A missing file names the path. */
    snprintf(path, sizeof path, "%s/missing.bin", dir);
    ck_assert_ptr_null(duet_tokenizer_load(path, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "missing.bin"));
    free(b);
    free(good);
    duet_tokenizer_free(t);
    test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(bad_vocab_size)
{
    duet_err err;
    ck_assert_ptr_null(train_text("abc\n", 4, 100, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "vocab_size"));
}
END_TEST

Suite *suite_tokenizer(void)
{
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("bpe");
    tcase_add_test(tc, pretokenizer_words);
    tcase_add_test(tc, hand_computed_merges);
    tcase_add_test(tc, incremental_matches_brute_force);
    tcase_add_test(tc, training_is_deterministic);
    tcase_add_test(tc, roundtrip_random_bytes);
    tcase_add_test(tc, roundtrip_corpus_compresses);
    tcase_add_test(tc, roundtrip_embedded_brown);
    tcase_add_test(tc, small_sample_bounds_training);
    tcase_add_test(tc, file_roundtrip_and_corruption);
    tcase_add_test(tc, bad_vocab_size);
    suite_add_tcase(s, tc);
    return s;
}
