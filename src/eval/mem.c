/* Memorisation (SPEC §6.4): generated 4-grams found in a reference corpus,
 * which is streamed into a set of 64-bit 4-gram hashes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval_internal.h"

struct duet_ngram_set {
    uint64_t *keys; /* 0 = free slot (a hash of 0 is stored as 1) */
    size_t cap, n;
    duet_spans spans; /* scratch */
    uint64_t *tokh;   /* scratch: token hashes of one text */
    size_t tokh_cap;
};

duet_ngram_set *duet_ngram_set_create(void)
{
    duet_ngram_set *s = duet_calloc(1, sizeof *s);
    s->cap = 1 << 12;
    s->keys = duet_calloc(s->cap, sizeof *s->keys);
    return s;
}

void duet_ngram_set_free(duet_ngram_set *s)
{
    if (!s)
        return;
    free(s->keys);
    free(s->tokh);
    duet_spans_free(&s->spans);
    free(s);
}

size_t duet_ngram_set_size(const duet_ngram_set *s)
{
    return s->n;
}

/* Keys are already mixed, so their low bits index the table. */
static size_t slot_of(const duet_ngram_set *s, uint64_t key)
{
    size_t mask = s->cap - 1, i = key & mask;
    while (s->keys[i] != 0 && s->keys[i] != key)
        i = (i + 1) & mask;
    return i;
}

static void set_insert(duet_ngram_set *s, uint64_t key)
{
    if (2 * (s->n + 1) > s->cap) {
        uint64_t *old = s->keys;
        size_t old_cap = s->cap;
        s->cap *= 2;
        s->keys = duet_calloc(s->cap, sizeof *s->keys);
        for (size_t i = 0; i < old_cap; i++)
            if (old[i])
                s->keys[slot_of(s, old[i])] = old[i];
        free(old);
    }
    size_t i = slot_of(s, key);
    if (s->keys[i] == 0) {
        s->keys[i] = key;
        s->n++;
    }
}

/* Hashes of the §6.4 4-grams of a text into s->tokh[0 .. return). The
 * 4-gram hash chains the bijective mixer over the token hashes, so two
 * 4-grams that differ only in their last token never collide. */
static size_t fourgram_hashes(duet_ngram_set *s, const char *text, size_t len)
{
    duet_tokenize_words(text, len, &s->spans);
    size_t m = s->spans.n;
    if (m > s->tokh_cap) {
        s->tokh_cap = 2 * m;
        s->tokh = duet_realloc(s->tokh, s->tokh_cap * sizeof *s->tokh);
    }
    for (size_t j = 0; j < m; j++)
        s->tokh[j] = duet_hash64(text + s->spans.v[j].off, s->spans.v[j].len, 0);
    size_t ng = ev_ngrams_in(m, 4);
    for (size_t j = 0; j < ng; j++) { /* in place: tokh[j] is last read here */
        uint64_t h = ev_mix64(s->tokh[j]);
        for (size_t q = 1; q < 4; q++)
            h = ev_mix64(h ^ s->tokh[j + q]);
        s->tokh[j] = h ? h : 1;
    }
    return ng;
}

void duet_ngram_set_add_text(duet_ngram_set *s, const char *text, size_t n)
{
    size_t ng = fourgram_hashes(s, text, n);
    for (size_t j = 0; j < ng; j++)
        set_insert(s, s->tokh[j]);
}

static void add_cb(const char *text, size_t len, void *ctx)
{
    duet_ngram_set_add_text(ctx, text, len);
}

int duet_ngram_set_add_file(duet_ngram_set *s, const char *path, const char *format,
                            const char *field, duet_err *err)
{
    return duet_texts_stream(path, format, field, add_cb, s, err);
}

double duet_mem(const duet_ngram_set *ref, const duet_texts *t)
{
    /* The lookups need scratch space only; keep ref const for callers. */
    duet_ngram_set scratch = {.keys = NULL};
    size_t found = 0, total = 0;
    for (size_t i = 0; i < t->n; i++) {
        size_t len;
        const char *s = duet_texts_get(t, i, &len);
        size_t ng = fourgram_hashes(&scratch, s, len);
        for (size_t j = 0; j < ng; j++)
            found += ref->keys[slot_of(ref, scratch.tokh[j])] != 0;
        total += ng;
    }
    free(scratch.tokh);
    duet_spans_free(&scratch.spans);
    return total ? (double)found / (double)total : NAN;
}
