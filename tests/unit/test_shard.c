/* Shard files (write/read round trip, validation of every corruption),
 * the text readers, and duet_shards_build end to end. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "duet/data.h"
#include "duet/rng.h"
#include "testutil.h"
#include "textgen.h"

/* Document d of the synthetic set: length 0..2*mean, ids in [16, vocab). */
static size_t synth_doc(uint64_t d, int vocab, size_t mean, int32_t *out)
{
    duet_rng r = duet_rng_keyed(42, 0, (uint32_t)d, DUET_STREAM_USER);
    size_t n = duet_rng_below(&r, (uint32_t)(2 * mean + 1));
    for (size_t i = 0; i < n; i++)
        out[i] = (int32_t)(DUET_TOK_NSPECIAL + duet_rng_below(&r, (uint32_t)vocab - 16));
    return n;
}

static void write_synth(const char *path, int vocab, uint32_t id, uint64_t d0, uint64_t ndocs)
{
    duet_err err;
    duet_shard_writer *w = duet_shard_writer_create(path, vocab, id, 0, &err);
    ck_assert_msg(w != NULL, "%s", err.msg);
    int32_t doc[1000];
    for (uint64_t d = d0; d < d0 + ndocs; d++) {
        size_t n = synth_doc(d, vocab, 40, doc);
        ck_assert_int_eq(duet_shard_writer_add(w, doc, n, 3 * n, &err), 0);
    }
    ck_assert_msg(duet_shard_writer_finish(w, &err) == 0, "%s", err.msg);
}

START_TEST(write_read_roundtrip)
{
    char *dir = test_tmpdir();
    const int vocabs[2] = {300, 70000}; /* 2-byte and 4-byte tokens */
    for (int v = 0; v < 2; v++) {
        char prefix[4096], path[4200];
        snprintf(prefix, sizeof prefix, "%s/v%d", dir, v);
        for (int f = 0; f < 3; f++) { /* docs 0..9, 10..24, 25..31 */
            static const uint64_t d0[3] = {0, 10, 25}, nd[3] = {10, 15, 7};
            snprintf(path, sizeof path, "%s_%05d.bin", prefix, f);
            write_synth(path, vocabs[v], 0xabcdu, d0[f], nd[f]);
        }
        duet_err err;
        duet_shard_set *s = duet_shards_open(prefix, vocabs[v], 0xabcdu, &err);
        ck_assert_msg(s != NULL, "%s", err.msg);
        ck_assert_int_eq(duet_shards_num_files(s), 3);
        ck_assert_uint_eq(duet_shards_num_docs(s), 32);
        ck_assert_int_eq(duet_shards_vocab_size(s), vocabs[v]);
        ck_assert_int_eq(duet_shards_paired(s), 0);
        uint64_t total = 0;
        for (uint64_t d = 0; d < 32; d++) {
            int32_t want[1000], got[1000];
            size_t n = synth_doc(d, vocabs[v], 40, want);
            ck_assert_uint_eq(duet_shards_doc_len(s, d), n);
            ck_assert_uint_eq(duet_shards_doc_offset(s, d), total);
            duet_shards_read(s, d, 0, n, got);
            ck_assert(memcmp(want, got, n * sizeof *got) == 0);
            total += n;
        }
        ck_assert_uint_eq(duet_shards_num_tokens(s), total);
        ck_assert_uint_eq(duet_shards_text_bytes(s), 3 * total);
        duet_shards_close(s);
    }
    test_rmtree(dir);
    free(dir);
}
END_TEST

static void put32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Recomputes both checksums, so a test reaches the checks behind them. */
static void fix_crcs(uint8_t *b, size_t n)
{
    put32le(b + 80, (uint32_t)crc32(0L, b + 128, (uInt)(n - 128)));
    put32le(b + 124, (uint32_t)crc32(0L, b, 124));
}

static void expect_bad(const char *dir, const uint8_t *b, size_t n, int vocab, uint32_t id,
                       const char *needle)
{
    char *path = test_write_file(dir, "bad_00000.bin", b, n);
    duet_err err;
    duet_shard_set *s = duet_shards_open(path, vocab, id, &err);
    ck_assert_msg(s == NULL, "accepted a bad shard (%s)", needle);
    ck_assert_msg(strstr(err.msg, needle) && strstr(err.msg, "bad_00000.bin"),
                  "message '%s' lacks '%s' or the file name", err.msg, needle);
    free(path);
}

START_TEST(every_corruption_detected)
{
    char *dir = test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/good_00000.bin", dir);
    write_synth(path, 300, 7, 0, 20);
    size_t n;
    uint8_t *good = test_read_file(path, &n), *b = malloc(n);
    duet_err err;
    duet_shard_set *s = duet_shards_open(path, 300, 7, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    duet_shards_close(s);

#define FRESH() memcpy(b, good, n)
    FRESH();
    b[200] ^= 1; /* a token byte */
    expect_bad(dir, b, n, 0, 0, "payload checksum");
    FRESH();
    b[n - 3] ^= 1; /* an offset byte */
    expect_bad(dir, b, n, 0, 0, "payload checksum");
    FRESH();
    b[33] ^= 1; /* token count */
    expect_bad(dir, b, n, 0, 0, "header checksum");
    expect_bad(dir, good, n - 8, 0, 0, "truncated");
    expect_bad(dir, good, 100, 0, 0, "truncated");
    FRESH();
    memcpy(b, "NOTASHRD", 8);
    expect_bad(dir, b, n, 0, 0, "magic");
    FRESH();
    put32le(b + 8, 99);
    fix_crcs(b, n);
    expect_bad(dir, b, n, 0, 0, "version");
    expect_bad(dir, good, n, 400, 0, "vocabulary size 300, expected 400");
    expect_bad(dir, good, n, 0, 8, "tokenizer id");
    /* Checksums right, content wrong: a token id outside the vocabulary. */
    FRESH();
    b[128] = 0x2c;
    b[129] = 0x01; /* 300 */
    fix_crcs(b, n);
    expect_bad(dir, b, n, 0, 0, "outside the vocabulary");
    /* Offsets that decrease, and offsets that do not end at the token count. */
    FRESH();
    uint64_t offs_at = 0;
    for (int i = 0; i < 8; i++)
        offs_at |= (uint64_t)good[64 + i] << (8 * i);
    b[offs_at + 8 * 3] = 0xff;
    b[offs_at + 8 * 3 + 1] = 0x7f;
    fix_crcs(b, n);
    expect_bad(dir, b, n, 0, 0, "offsets");
    FRESH();
    b[n - 8] ^= 4;
    fix_crcs(b, n);
    expect_bad(dir, b, n, 0, 0, "offsets");
    /* A non-zero reserved header byte (a newer format or a corrupted header). */
    FRESH();
    b[100] = 1;
    fix_crcs(b, n);
    expect_bad(dir, b, n, 0, 0, "reserved header byte 100");
    /* A huge token count that would overflow size arithmetic. */
    FRESH();
    memset(b + 32, 0xff, 8);
    fix_crcs(b, n);
    expect_bad(dir, b, n, 0, 0, "do not fit");
    /* Mixed tokenizers in one set. */
    snprintf(path, sizeof path, "%s/mix_00000.bin", dir);
    write_synth(path, 300, 7, 0, 5);
    snprintf(path, sizeof path, "%s/mix_00001.bin", dir);
    write_synth(path, 300, 9, 0, 5);
    snprintf(path, sizeof path, "%s/mix", dir);
    ck_assert_ptr_null(duet_shards_open(path, 0, 0, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "does not match"));
    snprintf(path, sizeof path, "%s/nothing", dir);
    ck_assert_ptr_null(duet_shards_open(path, 0, 0, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "no shard files"));
    free(b);
    free(good);
    test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(writer_rejects_bad_ids)
{
    char *dir = test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/w.bin", dir);
    duet_err err;
    duet_shard_writer *w = duet_shard_writer_create(path, 300, 1, 0, &err);
    int32_t ids[2] = {20, 300};
    ck_assert_int_eq(duet_shard_writer_add(w, ids, 2, 2, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "out of range"));
    duet_shard_writer_abort(w);
    size_t n;
    ck_assert_ptr_null(test_read_file(path, &n)); /* nothing left behind */
    /* A paired shard needs whole records. */
    w = duet_shard_writer_create(path, 300, 1, 1, &err);
    ck_assert_int_eq(duet_shard_writer_add(w, ids, 1, 1, &err), 0);
    ck_assert_int_eq(duet_shard_writer_finish(w, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "odd"));
    ck_assert_ptr_null(test_read_file(path, &n));
    test_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- readers */

static char *write_str(const char *dir, const char *name, const char *s)
{
    return test_write_file(dir, name, s, strlen(s));
}

static int read_all(const char *path, const char *format, int paired, char *out, size_t cap,
                    duet_err *err)
{
    const char *paths[1] = {path};
    duet_text_spec sp = {paths, 1, format, "body", paired, "src", "tgt"};
    duet_text_reader *r = duet_text_open(&sp, err);
    if (!r)
        return -1;
    duet_text_record rec;
    int rc;
    *out = 0;
    while ((rc = duet_text_next(r, &rec, err)) == 1) {
        size_t n = strlen(out);
        snprintf(out + n, cap - n, "[%.*s", (int)rec.len[0], rec.text[0]);
        if (paired) {
            n = strlen(out);
            snprintf(out + n, cap - n, "|%.*s", (int)rec.len[1], rec.text[1]);
        }
        strncat(out, "]", cap - strlen(out) - 1);
    }
    duet_text_close(r);
    return rc;
}

static void write_gz(const char *path, const char *s)
{
    gzFile g = gzopen(path, "wb");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(gzwrite(g, s, (unsigned)strlen(s)), (int)strlen(s));
    ck_assert_int_eq(gzclose(g), Z_OK);
}

START_TEST(readers)
{
    char *dir = test_tmpdir(), out[1024], path[4200];
    duet_err err;
    char *p = write_str(dir, "a.txt", "one\r\n\ntwo three\nlast");
    ck_assert_int_eq(read_all(p, "auto", 0, out, sizeof out, &err), 0);
    ck_assert_str_eq(out, "[one][][two three][last]");
    free(p);
    p = write_str(dir, "b.txt", "\n\np1 a\np1 b\n\n\np2\n");
    ck_assert_int_eq(read_all(p, "paragraphs", 0, out, sizeof out, &err), 0);
    ck_assert_str_eq(out, "[p1 a\np1 b][p2]");
    free(p);
    snprintf(path, sizeof path, "%s/c.jsonl.gz", dir);
    write_gz(path, "{\"body\": \"caf\\u00e9\", \"n\": 1}\n\n{\"body\": \"x\\ny\"}\n");
    ck_assert_int_eq(read_all(path, "auto", 0, out, sizeof out, &err), 0);
    ck_assert_str_eq(out, "[caf\xc3\xa9][][x\ny]");
    snprintf(path, sizeof path, "%s/d.tsv.gz", dir);
    write_gz(path, "dog\ta barking animal\ncat\tsays\tmeow\n");
    ck_assert_int_eq(read_all(path, "auto", 1, out, sizeof out, &err), 0);
    ck_assert_str_eq(out, "[dog|a barking animal][cat|says\tmeow]");
    p = write_str(dir, "e.jsonl", "{\"src\": \"a\", \"tgt\": \"b\"}\n");
    ck_assert_int_eq(read_all(p, "auto", 1, out, sizeof out, &err), 0);
    ck_assert_str_eq(out, "[a|b]");
    free(p);
    /* Errors name the file and line. */
    p = write_str(dir, "bad.jsonl", "{\"body\": \"ok\"}\n{\"body\": 3}\n");
    ck_assert_int_eq(read_all(p, "auto", 0, out, sizeof out, &err), -1);
    ck_assert_msg(strstr(err.msg, "bad.jsonl:2"), "%s", err.msg);
    free(p);
    p = write_str(dir, "nofield.jsonl", "{\"text\": \"ok\"}\n");
    ck_assert_int_eq(read_all(p, "auto", 0, out, sizeof out, &err), -1);
    ck_assert_msg(strstr(err.msg, "nofield.jsonl:1") && strstr(err.msg, "'body'"), "%s", err.msg);
    free(p);
    p = write_str(dir, "notab.tsv", "a\tb\nno tab\n");
    ck_assert_int_eq(read_all(p, "auto", 1, out, sizeof out, &err), -1);
    ck_assert_msg(strstr(err.msg, "notab.tsv:2") && strstr(err.msg, "TAB"), "%s", err.msg);
    ck_assert_int_eq(read_all(p, "auto", 0, out, sizeof out, &err), -1);
    ck_assert_msg(strstr(err.msg, "paired=1"), "%s", err.msg);
    free(p);
    /* A truncated gzip file is an error, not a short corpus. */
    snprintf(path, sizeof path, "%s/big.txt.gz", dir);
    size_t len;
    char *text = test_gen_text(3, 2000, 30, &len);
    write_gz(path, text);
    size_t gn;
    char *gz = test_read_file(path, &gn);
    p = test_write_file(dir, "cut.txt.gz", gz, gn / 2);
    ck_assert_int_eq(read_all(p, "auto", 0, out, sizeof out, &err), -1);
    ck_assert_msg(strstr(err.msg, "cut.txt.gz"), "%s", err.msg);
    free(p);
    snprintf(path, sizeof path, "%s/absent.txt", dir);
    ck_assert_int_eq(read_all(path, "auto", 0, out, sizeof out, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "absent.txt"));
    free(gz);
    free(text);
    test_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- duet_shards_build */

typedef struct built {
    char *dir, *corpus;
    duet_tokenizer *tok;
} built;

static duet_tokenizer *train_on(const char *path)
{
    const char *paths[1] = {path};
    duet_text_spec in = {paths, 1, "auto", "text", 0, NULL, NULL};
    duet_bpe_train_opts o = {700, (size_t)1 << 20, 0};
    duet_err err;
    duet_tokenizer *t = duet_tokenizer_train(&in, &o, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    return t;
}

static int build(const char *corpus, const duet_tokenizer *t, const char *out, int nshards,
                 double val, int threads, duet_shards_report *rep, duet_err *err)
{
    const char *paths[1] = {corpus};
    duet_shards_build_opts o;
    memset(&o, 0, sizeof o);
    o.in = (duet_text_spec){paths, 1, "auto", "text", 0, NULL, NULL};
    o.out_dir = out;
    o.num_shards = nshards;
    o.val_fraction = val;
    o.seed = 11;
    o.threads = threads;
    return duet_shards_build(&o, t, rep, err);
}

START_TEST(build_end_to_end)
{
    char *dir = test_tmpdir();
    size_t len;
    char *text = test_gen_text(21, 3000, 25, &len);
    /* Blank lines are skipped and counted. */
    char *withblank = malloc(len + 8);
    memcpy(withblank, "\n  \n", 4);
    memcpy(withblank + 4, text, len);
    char *corpus = test_write_file(dir, "corpus.txt", withblank, len + 4);
    duet_tokenizer *t = train_on(corpus);
    char out1[4200], out2[4200], spec[4300];
    snprintf(out1, sizeof out1, "%s/out1/sub", dir);
    snprintf(out2, sizeof out2, "%s/out2", dir);
    duet_shards_report r1, r2;
    duet_err err;
    ck_assert_msg(build(corpus, t, out1, 3, 0.1, 1, &r1, &err) == 0, "%s", err.msg);
    ck_assert_msg(build(corpus, t, out2, 3, 0.1, 2, &r2, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(r1.records, 3002);
    ck_assert_uint_eq(r1.empty, 2);
    ck_assert_uint_eq(r1.docs[0] + r1.docs[1], 3000);
    /* ~10% held out (binomial: 300 +- 16; allow 4 sigma). */
    ck_assert_msg(r1.docs[1] > 235 && r1.docs[1] < 365, "%llu val docs",
                  (unsigned long long)r1.docs[1]);
    /* Same bytes for any thread count. */
    const char *names[4] = {"train_00000.bin", "train_00001.bin", "train_00002.bin",
                            "val_00000.bin"};
    for (int i = 0; i < 4; i++) {
        char a[4400], b[4400];
        snprintf(a, sizeof a, "%s/%s", out1, names[i]);
        snprintf(b, sizeof b, "%s/%s", out2, names[i]);
        size_t na, nb;
        char *da = test_read_file(a, &na), *db = test_read_file(b, &nb);
        ck_assert_ptr_nonnull(da);
        ck_assert_msg(na == nb && memcmp(da, db, na) == 0, "%s differs with 2 threads", names[i]);
        free(da);
        free(db);
    }
    /* Decoding the shards gives back every line: training record k is in
     * file k mod 3, validation records in order. */
    snprintf(spec, sizeof spec, "%s/train", out1);
    duet_shard_set *tr = duet_shards_open(spec, duet_tokenizer_vocab_size(t),
                                          duet_tokenizer_id(t), &err);
    ck_assert_msg(tr != NULL, "%s", err.msg);
    snprintf(spec, sizeof spec, "%s/val_00000.bin", out1);
    duet_shard_set *va = duet_shards_open(spec, 0, duet_tokenizer_id(t), &err);
    ck_assert_msg(va != NULL, "%s", err.msg);
    ck_assert_uint_eq(duet_shards_num_docs(tr), r1.docs[0]);
    ck_assert_uint_eq(duet_shards_num_tokens(tr) + duet_shards_num_tokens(va),
                      r1.tokens[0] + r1.tokens[1]);
    uint64_t per[3] = {0}, base[4] = {0};
    for (int f = 0; f < 3; f++)
        per[f] = (r1.docs[0] + 2 - (uint64_t)f) / 3;
    for (int f = 0; f < 3; f++)
        base[f + 1] = base[f] + per[f];
    uint64_t k = 0, v = 0;
    const char *line = text;
    int32_t ids[4096];
    for (int i = 0; i < 3000; i++) {
        const char *nl = strchr(line, '\n');
        size_t ll = (size_t)(nl - line);
        const duet_shard_set *s;
        uint64_t d;
        /* Which split the line went to is decided by the shard contents:
         * try training record k first (the lines are nearly all distinct). */
        uint64_t dt = base[k % 3] + k / 3;
        size_t n = k < r1.docs[0] ? duet_shards_doc_len(tr, dt) : 0;
        if (k < r1.docs[0])
            duet_shards_read(tr, dt, 0, n, ids);
        size_t dl = 0;
        char *dec = duet_tokenizer_decode(t, ids, n, &dl);
        if (k < r1.docs[0] && dl == ll && memcmp(dec, line, ll) == 0) {
            s = tr;
            d = dt;
            k++;
        } else {
            s = va;
            d = v++;
        }
        free(dec);
        n = duet_shards_doc_len(s, d);
        duet_shards_read(s, d, 0, n, ids);
        dec = duet_tokenizer_decode(t, ids, n, &dl);
        ck_assert_msg(dl == ll && memcmp(dec, line, ll) == 0, "line %d not found in the shards", i);
        free(dec);
        line = nl + 1;
    }
    ck_assert_uint_eq(k, r1.docs[0]);
    ck_assert_uint_eq(v, r1.docs[1]);
    duet_shards_close(tr);
    duet_shards_close(va);
    /* A rerun with fewer shards removes the stale ones; val_fraction=0
     * writes no validation file. */
    ck_assert_msg(build(corpus, t, out1, 2, 0, 1, &r1, &err) == 0, "%s", err.msg);
    snprintf(spec, sizeof spec, "%s/train_00002.bin", out1);
    size_t n;
    ck_assert_ptr_null(test_read_file(spec, &n));
    snprintf(spec, sizeof spec, "%s/val_00000.bin", out1);
    ck_assert_ptr_null(test_read_file(spec, &n));
    ck_assert_uint_eq(r1.docs[0], 3000);
    duet_tokenizer_free(t);
    free(corpus);
    free(withblank);
    free(text);
    test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(build_paired)
{
    char *dir = test_tmpdir();
    const char *tsv = "dog\ta domestic animal that barks\ncat\ta small animal\n"
                      "\t\nbird\tan animal with wings\n";
    char *corpus = test_write_file(dir, "pairs.tsv", tsv, strlen(tsv));
    const char *paths[1] = {corpus};
    duet_text_spec in = {paths, 1, "auto", "text", 1, NULL, NULL};
    duet_bpe_train_opts o = {300, (size_t)1 << 20, 0};
    duet_err err;
    duet_tokenizer *t = duet_tokenizer_train(&in, &o, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    duet_shards_build_opts bo;
    memset(&bo, 0, sizeof bo);
    bo.in = in;
    bo.val_in = in; /* the same file as validation set */
    bo.out_dir = dir;
    bo.num_shards = 1;
    bo.threads = 1;
    duet_shards_report r;
    ck_assert_msg(duet_shards_build(&bo, t, &r, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(r.records, 8);
    ck_assert_uint_eq(r.empty, 2);
    ck_assert_uint_eq(r.docs[0], 3);
    ck_assert_uint_eq(r.docs[1], 3);
    char spec[4200];
    snprintf(spec, sizeof spec, "%s/train", dir);
    duet_shard_set *s = duet_shards_open(spec, 0, 0, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    ck_assert_int_eq(duet_shards_paired(s), 1);
    ck_assert_uint_eq(duet_shards_num_docs(s), 6);
    int32_t ids[100];
    size_t n = duet_shards_doc_len(s, 4), dl;
    duet_shards_read(s, 4, 0, n, ids);
    char *dec = duet_tokenizer_decode(t, ids, n, &dl);
    ck_assert_str_eq(dec, "bird");
    free(dec);
    n = duet_shards_doc_len(s, 5);
    duet_shards_read(s, 5, 0, n, ids);
    dec = duet_tokenizer_decode(t, ids, n, &dl);
    ck_assert_str_eq(dec, "an animal with wings");
    free(dec);
    duet_shards_close(s);
    duet_tokenizer_free(t);
    free(corpus);
    test_rmtree(dir);
    free(dir);
}
END_TEST

Suite *suite_shard(void)
{
    Suite *s = suite_create("shard");
    TCase *tc = tcase_create("shard");
    tcase_add_test(tc, write_read_roundtrip);
    tcase_add_test(tc, every_corruption_detected);
    tcase_add_test(tc, writer_rejects_bad_ids);
    tcase_add_test(tc, readers);
    tcase_add_test(tc, build_end_to_end);
    tcase_add_test(tc, build_paired);
    suite_add_tcase(s, tc);
    return s;
}
