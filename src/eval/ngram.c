/* Exact n-gram ids for the text metrics (see eval_internal.h). */
#include "eval_internal.h"

#include <stdlib.h>
#include <string.h>

/* Ids are uint32 with EV_EMPTY reserved; evaluation sets are far smaller. */
static uint32_t next_id(size_t n)
{
    if (n >= EV_EMPTY)
        duet_fatal("eval: more than %u distinct n-grams", (unsigned)EV_EMPTY - 1);
    return (uint32_t)n;
}

/* ------------------------------------------------------------ ev_map */

static void map_grow(ev_map *m)
{
    size_t old_cap = m->cap;
    uint64_t *old_keys = m->keys;
    uint32_t *old_vals = m->vals;
    m->cap = old_cap ? 2 * old_cap : 1024;
    m->keys = duet_malloc(m->cap * sizeof *m->keys);
    m->vals = duet_malloc(m->cap * sizeof *m->vals);
    memset(m->vals, 0xFF, m->cap * sizeof *m->vals);
    size_t mask = m->cap - 1;
    for (size_t i = 0; i < old_cap; i++) {
        if (old_vals[i] == EV_EMPTY)
            continue;
        size_t s = ev_mix64(old_keys[i]) & mask;
        while (m->vals[s] != EV_EMPTY)
            s = (s + 1) & mask;
        m->keys[s] = old_keys[i];
        m->vals[s] = old_vals[i];
    }
    free(old_keys);
    free(old_vals);
}

static uint32_t map_intern(ev_map *m, uint64_t key)
{
    if (2 * (m->n + 1) > m->cap)
        map_grow(m);
    size_t mask = m->cap - 1, s = ev_mix64(key) & mask;
    while (m->vals[s] != EV_EMPTY) {
        if (m->keys[s] == key)
            return m->vals[s];
        s = (s + 1) & mask;
    }
    m->keys[s] = key;
    m->vals[s] = next_id(m->n++);
    return m->vals[s];
}

static void map_free(ev_map *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------- ev_vocab */

static void vocab_grow_slots(ev_vocab *v)
{
    free(v->slot);
    v->cap_slot = v->cap_slot ? 2 * v->cap_slot : 1024;
    v->slot = duet_malloc(v->cap_slot * sizeof *v->slot);
    memset(v->slot, 0xFF, v->cap_slot * sizeof *v->slot);
    size_t mask = v->cap_slot - 1;
    for (size_t id = 0; id < v->n; id++) {
        size_t s = ev_mix64(v->hash[id]) & mask;
        while (v->slot[s] != EV_EMPTY)
            s = (s + 1) & mask;
        v->slot[s] = (uint32_t)id;
    }
}

static uint32_t vocab_intern(ev_vocab *v, const char *str, size_t len)
{
    if (2 * (v->n + 1) > v->cap_slot)
        vocab_grow_slots(v);
    uint64_t h = duet_hash64(str, len, 0);
    size_t mask = v->cap_slot - 1, s = ev_mix64(h) & mask;
    while (v->slot[s] != EV_EMPTY) {
        uint32_t id = v->slot[s];
        if (v->hash[id] == h && v->off[id + 1] - v->off[id] == len &&
            memcmp(v->arena + v->off[id], str, len) == 0)
            return id;
        s = (s + 1) & mask;
    }
    if (v->n + 1 >= v->cap) {
        v->cap = v->cap ? 2 * v->cap : 1024;
        v->hash = duet_realloc(v->hash, v->cap * sizeof *v->hash);
        v->off = duet_realloc(v->off, (v->cap + 1) * sizeof *v->off);
        if (v->n == 0)
            v->off[0] = 0;
    }
    while (v->arena_n + len > v->arena_cap) {
        v->arena_cap = v->arena_cap ? 2 * v->arena_cap : 1 << 16;
        v->arena = duet_realloc(v->arena, v->arena_cap);
    }
    memcpy(v->arena + v->arena_n, str, len);
    v->arena_n += len;
    uint32_t id = next_id(v->n);
    v->hash[id] = h;
    v->off[id + 1] = v->arena_n;
    v->slot[s] = id;
    v->n++;
    return id;
}

static void vocab_free(ev_vocab *v)
{
    free(v->slot);
    free(v->hash);
    free(v->off);
    free(v->arena);
    memset(v, 0, sizeof *v);
}

/* --------------------------------------------------------- ev_ngrams */

void ev_ngrams_init(ev_ngrams *c, enum ev_tok_kind kind, int fold)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->fold = fold;
}

void ev_ngrams_free(ev_ngrams *c)
{
    vocab_free(&c->vocab);
    for (int i = 0; i < EV_MAX_N - 1; i++)
        map_free(&c->gram[i]);
    duet_spans_free(&c->spans);
    free(c->low);
    memset(c, 0, sizeof *c);
}

size_t ev_ngrams_distinct(const ev_ngrams *c, int n)
{
    return n == 1 ? c->vocab.n : c->gram[n - 2].n;
}

static uint32_t token_id(ev_ngrams *c, const char *s, size_t len)
{
    if (!c->fold)
        return vocab_intern(&c->vocab, s, len);
    if (len > c->low_cap) {
        c->low_cap = 2 * len;
        c->low = duet_realloc(c->low, c->low_cap);
    }
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        c->low[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    return vocab_intern(&c->vocab, c->low, len);
}

void ev_corpus_build(ev_ngrams *c, const duet_texts *t, ev_corpus *out)
{
    out->n = t->n;
    out->start = duet_malloc((t->n + 1) * sizeof *out->start);
    size_t cap = 1024, total = 0;
    for (int n = 0; n < EV_MAX_N; n++)
        out->g[n] = duet_malloc(cap * sizeof(uint32_t));
    for (size_t i = 0; i < t->n; i++) {
        size_t len;
        const char *s = duet_texts_get(t, i, &len);
        if (c->kind == EV_TOK_WORDS)
            duet_tokenize_words(s, len, &c->spans);
        else
            duet_tokenize_rouge(s, len, &c->spans);
        out->start[i] = total;
        size_t m = c->spans.n;
        if (total + m > cap) {
            while (total + m > cap)
                cap *= 2;
            for (int n = 0; n < EV_MAX_N; n++)
                out->g[n] = duet_realloc(out->g[n], cap * sizeof(uint32_t));
        }
        uint32_t *tok = out->g[0] + total;
        for (size_t j = 0; j < m; j++)
            tok[j] = token_id(c, s + c->spans.v[j].off, c->spans.v[j].len);
        for (int n = 2; n <= EV_MAX_N; n++) {
            const uint32_t *prefix = out->g[n - 2] + total;
            uint32_t *g = out->g[n - 1] + total;
            for (size_t j = 0; j < ev_ngrams_in(m, n); j++)
                g[j] = map_intern(&c->gram[n - 2],
                                  ((uint64_t)prefix[j] << 32) | tok[j + (size_t)n - 1]);
        }
        total += m;
    }
    out->start[t->n] = total;
}

void ev_corpus_free(ev_corpus *k)
{
    free(k->start);
    for (int n = 0; n < EV_MAX_N; n++)
        free(k->g[n]);
    memset(k, 0, sizeof *k);
}

/* -------------------------------------------------------- ev_counter */

void ev_counter_reserve(ev_counter *c, size_t n_ids)
{
    if (n_ids <= c->cap)
        return;
    c->cnt = duet_realloc(c->cnt, n_ids * sizeof *c->cnt);
    memset(c->cnt + c->cap, 0, (n_ids - c->cap) * sizeof *c->cnt);
    c->cap = n_ids;
}

void ev_counter_add(ev_counter *c, const uint32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (c->cnt[ids[i]]++ > 0)
            continue;
        if (c->nu == c->ucap) {
            c->ucap = c->ucap ? 2 * c->ucap : 256;
            c->uniq = duet_realloc(c->uniq, c->ucap * sizeof *c->uniq);
        }
        c->uniq[c->nu++] = ids[i];
    }
}

void ev_counter_clear(ev_counter *c)
{
    for (size_t i = 0; i < c->nu; i++)
        c->cnt[c->uniq[i]] = 0;
    c->nu = 0;
}

size_t ev_counter_take(ev_counter *a, const uint32_t *ids, size_t n)
{
    size_t overlap = 0;
    for (size_t i = 0; i < n; i++) {
        if (a->cnt[ids[i]] > 0) {
            a->cnt[ids[i]]--;
            overlap++;
        }
    }
    return overlap;
}

void ev_counter_free(ev_counter *c)
{
    free(c->cnt);
    free(c->uniq);
    memset(c, 0, sizeof *c);
}
