/* Shared by the src/eval sources (not a public header): exact n-gram ids.
 *
 * The text metrics compare n-grams exactly. Every distinct token string gets
 * a 32-bit id (ev_vocab), and every distinct n-gram of order n = 2..4 the id
 * of the pair (id of its (n-1)-gram prefix, id of its last token) in the
 * map of that order; so an n-gram is one uint32 and multiset operations are
 * counts in arrays indexed by id (ev_counter), linear in the text length.
 */
#ifndef DUET_EVAL_INTERNAL_H
#define DUET_EVAL_INTERNAL_H

#include <stdint.h>

#include "duet/eval.h"

#define EV_MAX_N 4
#define EV_EMPTY UINT32_MAX

/* Number of n-grams of a text of len tokens. */
static inline size_t ev_ngrams_in(size_t len, int n)
{
    return len >= (size_t)n ? len - (size_t)n + 1 : 0;
}

/* Strong 64-bit mixer (MurmurHash3 fmix64), a bijection. */
static inline uint64_t ev_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb93fe53a87cdULL;
    x ^= x >> 33;
    return x;
}

/* uint64 key -> dense uint32 id (open addressing, linear probing). */
typedef struct ev_map {
    uint64_t *keys;
    uint32_t *vals; /* EV_EMPTY marks a free slot */
    size_t cap, n;
} ev_map;

/* Token string -> dense uint32 id; the strings are kept in an arena. */
typedef struct ev_vocab {
    uint32_t *slot; /* id or EV_EMPTY */
    size_t cap_slot;
    uint64_t *hash; /* per id */
    size_t *off;    /* per id, n + 1 entries: string id is arena[off[id] .. off[id+1]) */
    size_t n, cap;
    char *arena;
    size_t arena_n, arena_cap;
} ev_vocab;

enum ev_tok_kind { EV_TOK_WORDS, EV_TOK_ROUGE };

/* One id space for texts that will be compared with each other. */
typedef struct ev_ngrams {
    enum ev_tok_kind kind;
    int fold; /* compare tokens ASCII-lowercased */
    ev_vocab vocab;
    ev_map gram[EV_MAX_N - 1]; /* orders 2..4 */
    duet_spans spans;          /* scratch */
    char *low;                 /* scratch for lowercasing */
    size_t low_cap;
} ev_ngrams;

/* Texts as n-gram ids: text i has tokens [start[i], start[i+1]) and its
 * order-n n-grams are g[n-1][start[i] + j] for j < ev_ngrams_in(len_i, n)
 * (g[0] are the token ids). */
typedef struct ev_corpus {
    size_t n;
    size_t *start;
    uint32_t *g[EV_MAX_N];
} ev_corpus;

void ev_ngrams_init(ev_ngrams *c, enum ev_tok_kind kind, int fold);
void ev_ngrams_free(ev_ngrams *c);
/* Number of distinct n-grams of order n (1..4) seen by this id space. */
size_t ev_ngrams_distinct(const ev_ngrams *c, int n);

void ev_corpus_build(ev_ngrams *c, const duet_texts *t, ev_corpus *out);
void ev_corpus_free(ev_corpus *k);

static inline size_t ev_corpus_len(const ev_corpus *k, size_t i)
{
    return k->start[i + 1] - k->start[i];
}

static inline const uint32_t *ev_corpus_grams(const ev_corpus *k, size_t i, int n)
{
    return k->g[n - 1] + k->start[i];
}

/* Multiset of ids: cnt[id] for the ids in uniq (first-seen order). cnt has
 * room for `cap` ids and is all zero after ev_counter_clear. */
typedef struct ev_counter {
    uint32_t *cnt;
    size_t cap;
    uint32_t *uniq;
    size_t nu, ucap;
} ev_counter;

void ev_counter_reserve(ev_counter *c, size_t n_ids);
void ev_counter_add(ev_counter *c, const uint32_t *ids, size_t n);
void ev_counter_clear(ev_counter *c);
void ev_counter_free(ev_counter *c);

/* Sum over g of min(count_a(g), count of g in ids[0..n)), where a holds the
 * counts of the first multiset. Leaves a's counts decremented (clear it
 * afterwards). */
size_t ev_counter_take(ev_counter *a, const uint32_t *ids, size_t n);

#endif
