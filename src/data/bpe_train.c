/* BPE training (`duet-prep tokenizer`).
 *
 * Memory is bounded independently of the corpus: words are counted over the
 * first sample_bytes of document text in input order (the stream stops
 * there), so the word table holds at most sample_bytes of distinct words.
 * English repeats its words (64 MB: ~100k distinct, ~40 MB peak RSS); text
 * without repetition is the worst case (64 MB of random base64: 1.5 GB).
 * Feed a shuffled or representative corpus when its beginning is atypical.
 *
 * The merge loop is the usual incremental one: pair counts are kept exact
 * and updated only around the occurrences of the merged pair (each pair
 * keeps the list of words it occurs in); the best pair comes from a max-heap
 * with lazy invalidation (an entry whose count is stale is re-pushed or
 * dropped when popped). Ties go to the smallest (left, right) id pair, so
 * the result is a pure function of the sample and the vocabulary size. */
#include "duet/data.h"

#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* ------------------------------------------------------- word counting */

typedef struct word_table {
    uint64_t *hash;
    uint64_t *count;   /* 0 = empty slot */
    uint32_t *off;     /* into arena */
    uint8_t *len;
    size_t mask, used;
    uint8_t *arena;
    size_t arena_n, arena_cap;
} word_table;

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    return duet_hash64(p, n, 0x5eed);
}

static void wt_init(word_table *t, size_t slots)
{
    memset(t, 0, sizeof *t);
    t->mask = slots - 1;
    t->hash = duet_calloc(slots, sizeof *t->hash);
    t->count = duet_calloc(slots, sizeof *t->count);
    t->off = duet_calloc(slots, sizeof *t->off);
    t->len = duet_calloc(slots, sizeof *t->len);
    t->arena_cap = (size_t)1 << 20;
    t->arena = duet_malloc(t->arena_cap);
}

static void wt_free(word_table *t)
{
    free(t->hash);
    free(t->count);
    free(t->off);
    free(t->len);
    free(t->arena);
}

static void wt_grow(word_table *t)
{
    word_table n = *t;
    size_t slots = (t->mask + 1) * 2;
    n.mask = slots - 1;
    n.hash = duet_calloc(slots, sizeof *n.hash);
    n.count = duet_calloc(slots, sizeof *n.count);
    n.off = duet_calloc(slots, sizeof *n.off);
    n.len = duet_calloc(slots, sizeof *n.len);
    for (size_t i = 0; i <= t->mask; i++) {
        if (!t->count[i])
            continue;
        size_t j = t->hash[i] & n.mask;
        while (n.count[j])
            j = (j + 1) & n.mask;
        n.hash[j] = t->hash[i];
        n.count[j] = t->count[i];
        n.off[j] = t->off[i];
        n.len[j] = t->len[i];
    }
    free(t->hash);
    free(t->count);
    free(t->off);
    free(t->len);
    *t = n;
}

/* Adds one occurrence of w; -1 when the distinct words outgrow the 32-bit
 * offsets (4 GB of distinct words, far beyond any sensible sample). */
static int wt_add(word_table *t, const uint8_t *w, size_t n)
{
    uint64_t h = hash_bytes(w, n);
    size_t i = h & t->mask;
    for (; t->count[i]; i = (i + 1) & t->mask) {
        if (t->hash[i] == h && t->len[i] == n && memcmp(t->arena + t->off[i], w, n) == 0) {
            t->count[i]++;
            return 0;
        }
    }
    if (t->arena_n + n > UINT32_MAX)
        return -1;
    if (t->arena_n + n > t->arena_cap) {
        t->arena_cap *= 2;
        t->arena = duet_realloc(t->arena, t->arena_cap);
    }
    memcpy(t->arena + t->arena_n, w, n);
    t->hash[i] = h;
    t->count[i] = 1;
    t->off[i] = (uint32_t)t->arena_n;
    t->len[i] = (uint8_t)n;
    t->arena_n += n;
    if (++t->used * 2 > t->mask + 1)
        wt_grow(t);
    return 0;
}

static int count_words(word_table *t, const char *text, size_t len)
{
    const uint8_t *s = (const uint8_t *)text;
    size_t i = 0;
    while (i < len) {
        size_t w = duet_pretok_word(s + i, len - i);
        if (w > 1 && wt_add(t, s + i, w) != 0) /* single bytes form no pair */
            return -1;
        i += w;
    }
    return 0;
}

/* --------------------------------------------------------- merge state */

typedef struct id_list {
    uint32_t *v;
    uint32_t n, cap;
} id_list;

static void list_push(id_list *l, uint32_t x)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->v = duet_realloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = x;
}

typedef struct heap_entry {
    int64_t count;
    uint32_t pair;
} heap_entry;

typedef struct bpe {
    /* Words: symbols sym[off .. off+len), frequency freq. */
    size_t nwords;
    uint32_t *w_off, *w_len, *w_stamp;
    uint64_t *w_freq;
    uint32_t *sym;
    /* Pairs: map (a, b) -> index, and per-index data. */
    uint64_t *map_key; /* (a << 32 | b) + 1, 0 = empty */
    uint32_t *map_val;
    size_t map_mask;
    size_t npairs, pcap;
    uint32_t *p_a, *p_b, *p_last, *p_touch;
    int64_t *p_count;
    id_list *p_words;  /* words the pair was seen in (may hold stale entries) */
    heap_entry *heap;
    size_t nheap, heap_cap;
    id_list touched;   /* pairs whose count rose during the current merge */
    uint32_t stamp;
} bpe;

static inline uint64_t mix(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x9E3779B97F4A7C15ULL;
    return x ^ (x >> 29);
}

static void map_insert(bpe *m, uint64_t key, uint32_t val)
{
    size_t i = mix(key) & m->map_mask;
    while (m->map_key[i])
        i = (i + 1) & m->map_mask;
    m->map_key[i] = key;
    m->map_val[i] = val;
}

static uint32_t pair_index(bpe *m, uint32_t a, uint32_t b)
{
    uint64_t key = ((uint64_t)a << 32 | b) + 1;
    for (size_t i = mix(key) & m->map_mask; m->map_key[i]; i = (i + 1) & m->map_mask)
        if (m->map_key[i] == key)
            return m->map_val[i];
    if (m->npairs == m->pcap) {
        m->pcap = m->pcap ? m->pcap * 2 : 1024;
        m->p_a = duet_realloc(m->p_a, m->pcap * sizeof *m->p_a);
        m->p_b = duet_realloc(m->p_b, m->pcap * sizeof *m->p_b);
        m->p_last = duet_realloc(m->p_last, m->pcap * sizeof *m->p_last);
        m->p_touch = duet_realloc(m->p_touch, m->pcap * sizeof *m->p_touch);
        m->p_count = duet_realloc(m->p_count, m->pcap * sizeof *m->p_count);
        m->p_words = duet_realloc(m->p_words, m->pcap * sizeof *m->p_words);
    }
    uint32_t p = (uint32_t)m->npairs++;
    m->p_a[p] = a;
    m->p_b[p] = b;
    m->p_last[p] = 0;
    m->p_touch[p] = 0;
    m->p_count[p] = 0;
    memset(&m->p_words[p], 0, sizeof m->p_words[p]);
    if (m->npairs * 2 > m->map_mask + 1) { /* keep the load under 1/2 */
        size_t size = (m->map_mask + 1) * 2;
        free(m->map_key);
        free(m->map_val);
        m->map_key = duet_calloc(size, sizeof *m->map_key);
        m->map_val = duet_calloc(size, sizeof *m->map_val);
        m->map_mask = size - 1;
        for (uint32_t q = 0; q < m->npairs; q++)
            map_insert(m, ((uint64_t)m->p_a[q] << 32 | m->p_b[q]) + 1, q);
    } else {
        map_insert(m, key, p);
    }
    return p;
}

/* Heap order: larger count first, then smaller (a, b). */
static inline int heap_before(const bpe *m, heap_entry x, heap_entry y)
{
    if (x.count != y.count)
        return x.count > y.count;
    if (m->p_a[x.pair] != m->p_a[y.pair])
        return m->p_a[x.pair] < m->p_a[y.pair];
    return m->p_b[x.pair] < m->p_b[y.pair];
}

static void heap_down(bpe *m, size_t i)
{
    heap_entry *h = m->heap;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, best = i;
        if (l < m->nheap && heap_before(m, h[l], h[best]))
            best = l;
        if (r < m->nheap && heap_before(m, h[r], h[best]))
            best = r;
        if (best == i)
            return;
        heap_entry t = h[i];
        h[i] = h[best];
        h[best] = t;
        i = best;
    }
}

static void heap_push(bpe *m, int64_t count, uint32_t pair)
{
    if (m->nheap == m->heap_cap) {
        m->heap_cap = m->heap_cap ? m->heap_cap * 2 : 1024;
        m->heap = duet_realloc(m->heap, m->heap_cap * sizeof *m->heap);
    }
    heap_entry e = {count, pair};
    size_t i = m->nheap++;
    while (i > 0 && heap_before(m, e, m->heap[(i - 1) / 2])) {
        m->heap[i] = m->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    m->heap[i] = e;
}

static heap_entry heap_pop(bpe *m)
{
    heap_entry top = m->heap[0];
    m->heap[0] = m->heap[--m->nheap];
    heap_down(m, 0);
    return top;
}

/* Count of pair (x, y) changes by delta in word w. */
static void change(bpe *m, uint32_t x, uint32_t y, int64_t delta, uint32_t w)
{
    uint32_t p = pair_index(m, x, y);
    m->p_count[p] += delta;
    if (delta <= 0)
        return;
    if (m->p_last[p] != w + 1) {
        list_push(&m->p_words[p], w);
        m->p_last[p] = w + 1;
    }
    if (m->p_touch[p] != m->stamp) {
        m->p_touch[p] = m->stamp;
        list_push(&m->touched, p);
    }
}

/* Replaces every (a, b) in word w by z, left to right, updating the
 * counts of the neighbouring pairs. */
static void merge_word(bpe *m, uint32_t w, uint32_t a, uint32_t b, uint32_t z)
{
    uint32_t *s = m->sym + m->w_off[w];
    uint32_t n = m->w_len[w];
    int64_t f = (int64_t)m->w_freq[w];
    for (uint32_t i = 0; i + 1 < n; i++) {
        if (s[i] != a || s[i + 1] != b)
            continue;
        if (i > 0) {
            change(m, s[i - 1], a, -f, w);
            change(m, s[i - 1], z, f, w);
        }
        if (i + 2 < n) {
            change(m, b, s[i + 2], -f, w);
            change(m, z, s[i + 2], f, w);
        }
        change(m, a, b, -f, w);
        s[i] = z;
        memmove(s + i + 1, s + i + 2, (n - i - 2) * sizeof *s);
        n--;
    }
    m->w_len[w] = n;
}

static void bpe_free(bpe *m)
{
    free(m->w_off);
    free(m->w_len);
    free(m->w_stamp);
    free(m->w_freq);
    free(m->sym);
    free(m->map_key);
    free(m->map_val);
    for (size_t p = 0; p < m->npairs; p++)
        free(m->p_words[p].v);
    free(m->p_a);
    free(m->p_b);
    free(m->p_last);
    free(m->p_touch);
    free(m->p_count);
    free(m->p_words);
    free(m->heap);
    free(m->touched.v);
}

/* Learns up to max_merges merges from the counted words into merges[]. */
static uint32_t bpe_learn(const word_table *t, uint32_t max_merges, uint32_t *merges)
{
    bpe m;
    memset(&m, 0, sizeof m);
    m.w_off = duet_malloc((t->used + 1) * sizeof *m.w_off);
    m.w_len = duet_malloc((t->used + 1) * sizeof *m.w_len);
    m.w_freq = duet_malloc((t->used + 1) * sizeof *m.w_freq);
    m.w_stamp = duet_calloc(t->used + 1, sizeof *m.w_stamp);
    m.sym = duet_malloc((t->arena_n + 1) * sizeof *m.sym);
    m.map_mask = 1023;
    m.map_key = duet_calloc(m.map_mask + 1, sizeof *m.map_key);
    m.map_val = duet_calloc(m.map_mask + 1, sizeof *m.map_val);
    size_t nsym = 0;
    for (size_t i = 0; i <= t->mask; i++) {
        if (!t->count[i])
            continue;
        size_t w = m.nwords++;
        m.w_off[w] = (uint32_t)nsym;
        m.w_len[w] = t->len[i];
        m.w_freq[w] = t->count[i];
        for (size_t j = 0; j < t->len[i]; j++)
            m.sym[nsym++] = DUET_TOK_BYTE0 + t->arena[t->off[i] + j];
    }
    /* Initial counts: like merges, with stamp 0 marking nothing touched. */
    for (uint32_t w = 0; w < m.nwords; w++) {
        const uint32_t *s = m.sym + m.w_off[w];
        for (uint32_t i = 0; i + 1 < m.w_len[w]; i++)
            change(&m, s[i], s[i + 1], (int64_t)m.w_freq[w], w);
    }
    m.touched.n = 0;
    m.heap_cap = m.npairs + 1;
    m.heap = duet_malloc(m.heap_cap * sizeof *m.heap);
    for (uint32_t p = 0; p < m.npairs; p++)
        m.heap[m.nheap++] = (heap_entry){m.p_count[p], p};
    for (size_t i = m.nheap / 2; i-- > 0;)
        heap_down(&m, i);

    uint32_t k = 0;
    while (k < max_merges && m.nheap > 0) {
        heap_entry e = heap_pop(&m);
        int64_t cur = m.p_count[e.pair];
        if (cur != e.count) {
            /* Stale: a newer entry exists if the count rose; re-queue if it fell. */
            if (cur > 0 && cur < e.count)
                heap_push(&m, cur, e.pair);
            continue;
        }
        uint32_t a = m.p_a[e.pair], b = m.p_b[e.pair], z = DUET_TOK_NBASE + k;
        merges[2 * k] = a;
        merges[2 * k + 1] = b;
        k++;
        m.stamp++;
        id_list words = m.p_words[e.pair];
        memset(&m.p_words[e.pair], 0, sizeof words);
        for (uint32_t i = 0; i < words.n; i++) {
            uint32_t w = words.v[i];
            if (m.w_stamp[w] == m.stamp)
                continue;
            m.w_stamp[w] = m.stamp;
            merge_word(&m, w, a, b, z);
        }
        free(words.v);
        if (m.p_count[e.pair] != 0)
            duet_fatal("BPE: pair (%u, %u) has count %lld after its merge", a, b,
                       (long long)m.p_count[e.pair]);
        for (uint32_t i = 0; i < m.touched.n; i++) {
            uint32_t p = m.touched.v[i];
            if (m.p_count[p] > 0)
                heap_push(&m, m.p_count[p], p);
        }
        m.touched.n = 0;
    }
    bpe_free(&m);
    return k;
}

/* ------------------------------------------------------------- driver */

duet_tokenizer *duet_tokenizer_train(const duet_text_spec *in, const duet_bpe_train_opts *o,
                                     duet_err *err)
{
    if (o->vocab_size < DUET_TOK_NBASE || o->vocab_size > DUET_TOK_NBASE + (1 << 20)) {
        duet_errf(err, "vocab_size %d: must be in [%d, %d] (%d special ids + 256 bytes + "
                  "merges)", o->vocab_size, DUET_TOK_NBASE, DUET_TOK_NBASE + (1 << 20),
                  DUET_TOK_NSPECIAL);
        return NULL;
    }
    duet_text_reader *r = duet_text_open(in, err);
    if (!r)
        return NULL;
    word_table t;
    wt_init(&t, (size_t)1 << 16);
    size_t used = 0;
    double t0 = duet_now(), last = t0;
    duet_text_record rec;
    int rc = 0;
    while (rc >= 0 && used < o->sample_bytes && (rc = duet_text_next(r, &rec, err)) == 1) {
        for (int part = 0; part < 2 && rc >= 0 && used < o->sample_bytes; part++) {
            size_t n = DUET_MIN(rec.len[part], o->sample_bytes - used);
            if (count_words(&t, rec.text[part], n) != 0) {
                rc = duet_errf(err, "the sample holds more than 4 GB of distinct words; lower "
                               "tok_sample_mb");
                continue;
            }
            used += n;
        }
        if (o->progress && duet_now() - last > 2) {
            last = duet_now();
            fprintf(stderr, "duet-prep: counting words: %.1f MB of %.1f MB sample, %.1f MB/s\n",
                    used / 1e6, o->sample_bytes / 1e6, used / 1e6 / (last - t0));
        }
    }
    duet_text_close(r);
    if (rc < 0) {
        wt_free(&t);
        return NULL;
    }
    if (o->progress)
        fprintf(stderr, "duet-prep: %.1f MB of text, %zu distinct words (%.1f s); merging\n",
                used / 1e6, t.used, duet_now() - t0);
    uint32_t want = (uint32_t)(o->vocab_size - DUET_TOK_NBASE);
    uint32_t *merges = duet_malloc(sizeof(uint32_t) * 2 * (want ? want : 1));
    uint32_t got = bpe_learn(&t, want, merges);
    wt_free(&t);
    duet_tokenizer *tok = duet_tok_from_merges(merges, got, "trained tokenizer", err);
    free(merges);
    return tok;
}
