/* Tokenizer encode throughput on one core.
 *   tok_bench TOKENIZER TEXT_FILE [SECONDS]
 * Encodes the file's lines (documents) with one encoder until SECONDS have
 * passed (at least one full pass; the first pass warms the word cache, as
 * in a long duet-prep run), checks that decoding returns the input, and
 * prints one JSON line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "duet/data.h"

static char *read_all(const char *path, size_t *n)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 20, len = 0;
    char *buf = duet_malloc(cap);
    int got;
    while ((got = gzread(f, buf + len, (unsigned)(cap - len))) > 0) {
        len += (size_t)got;
        if (len == cap)
            buf = duet_realloc(buf, cap *= 2);
    }
    gzclose(f);
    *n = len;
    return buf;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: tok_bench TOKENIZER TEXT_FILE [SECONDS]\n");
        return 1;
    }
    double secs = argc > 3 ? atof(argv[3]) : 3.0;
    duet_err err;
    duet_tokenizer *t = duet_tokenizer_load(argv[1], &err);
    if (!t) {
        fprintf(stderr, "tok_bench: error: %s\n", err.msg);
        return 1;
    }
    size_t n;
    char *text = read_all(argv[2], &n);
    if (!text) {
        fprintf(stderr, "tok_bench: error: cannot read %s\n", argv[2]);
        return 1;
    }
    /* Round trip of the whole text first (also warms the cache). */
    size_t nid, dlen;
    int32_t *ids = duet_tokenizer_encode(t, text, n, &nid);
    char *back = duet_tokenizer_decode(t, ids, nid, &dlen);
    int roundtrip = dlen == n && memcmp(back, text, n) == 0;
    free(back);
    free(ids);

    duet_tok_encoder *e = duet_tok_encoder_create(t);
    int32_t *out = NULL;
    size_t cap = 0, tokens = 0, bytes = 0;
    int passes = 0;
    double t0 = duet_now(), el;
    do {
        const char *p = text, *end = text + n;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
            size_t k = 0;
            duet_tok_encode_append(e, p, len, &out, &k, &cap);
            tokens += k;
            bytes += len;
            p += len + 1;
        }
        passes++;
        el = duet_now() - t0;
    } while (el < secs);
    printf("{\"bench\": \"tok_encode\", \"file\": \"%s\", \"vocab\": %d, \"threads\": 1, "
           "\"passes\": %d, \"mb\": %.2f, \"seconds\": %.3f, \"mb_per_s\": %.1f, "
           "\"bytes_per_token\": %.3f, \"roundtrip\": %s}\n",
           argv[2], duet_tokenizer_vocab_size(t), passes, bytes / 1e6, el, bytes / 1e6 / el,
           (double)bytes / (double)tokens, roundtrip ? "true" : "false");
    free(out);
    free(text);
    duet_tok_encoder_free(e);
    duet_tokenizer_free(t);
    return roundtrip ? 0 : 1;
}
