/* Byte-level BPE tokenizer: vocabulary, encode/decode, and the versioned
 * tokenizer file (layout in docs/formats.md, "Tokenizer file").
 *
 * Encoding pre-tokenizes the text into words (tok_internal.h) and applies
 * the merges inside each word in rank order. Text repeats its words, so each
 * encoder keeps a cache word -> ids; a miss costs O(len^2) with
 * len <= DUET_TOK_MAX_WORD. */
#include "duet/data.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "tok_internal.h"

#define TOK_MAGIC "DUETTOKN"
#define TOK_VERSION 1
#define TOK_HEADER 32
#define TOK_MAX_MERGES (1u << 20)

#define L DUET_CLS_LETTER
#define D DUET_CLS_DIGIT
#define S DUET_CLS_SPACE
#define O DUET_CLS_OTHER
const uint8_t duet_tok_class[256] = {
    O, O, O, O, O, O, O, O, O, S, S, S, S, S, O, O, /* 0x00 */
    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, /* 0x10 */
    S, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, /* 0x20 */
    D, D, D, D, D, D, D, D, D, D, O, O, O, O, O, O, /* 0x30 */
    O, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, /* 0x40 */
    L, L, L, L, L, L, L, L, L, L, L, O, O, O, O, O, /* 0x50 */
    O, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, /* 0x60 */
    L, L, L, L, L, L, L, L, L, L, L, O, O, O, O, O, /* 0x70 */
    L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, /* 0x80 */
    L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, /* 0x90 */
    L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, /* 0xa0 */
    L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, /* 0xb0 */
    L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, /* 0xc0 */
    L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, /* 0xd0 */
    L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, /* 0xe0 */
    L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, /* 0xf0 */
};
#undef L
#undef D
#undef S
#undef O

struct duet_tokenizer {
    uint32_t vocab, nmerges;
    uint32_t *merges;      /* [nmerges][2] */
    uint32_t id;
    /* Bytes of every token: tok_bytes[tok_off[i] .. + tok_len[i]). */
    uint32_t *tok_off;
    uint8_t *tok_len;
    char *tok_bytes;
    /* Open-addressing map (left, right) -> merge rank. */
    uint64_t *pm;          /* pair_key(left, right) << 21 | rank; 0 = empty */
    uint64_t pm_mask;
    duet_tok_encoder *enc; /* for duet_tokenizer_encode, made on first use */
};

/* ------------------------------------------------------------ pair map */

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

#define NO_RANK UINT32_MAX

/* Ids and ranks are below 2^21 (TOK_MAX_MERGES), so a slot of the pair map
 * packs key and rank in 8 bytes and the map of an 8k vocabulary stays in L2. */
static inline uint64_t pair_key(uint32_t a, uint32_t b)
{
    return ((uint64_t)a << 21 | b) + 1;
}

static inline uint32_t pair_rank(const duet_tokenizer *t, uint32_t a, uint32_t b)
{
    uint64_t key = pair_key(a, b);
    for (uint64_t h = mix64(key) & t->pm_mask;; h = (h + 1) & t->pm_mask) {
        uint64_t slot = t->pm[h];
        if (slot >> 21 == key)
            return (uint32_t)(slot & ((1u << 21) - 1));
        if (slot == 0)
            return NO_RANK;
    }
}

/* ---------------------------------------------------------- construction */

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void *duet_tokenizer_to_bytes(const duet_tokenizer *t, size_t *n)
{
    size_t len = TOK_HEADER + (size_t)t->nmerges * 8 + 4;
    uint8_t *b = duet_malloc(len);
    memcpy(b, TOK_MAGIC, 8);
    put32(b + 8, TOK_VERSION);
    put32(b + 12, t->vocab);
    put32(b + 16, DUET_TOK_NSPECIAL);
    put32(b + 20, t->nmerges);
    put32(b + 24, DUET_TOK_MAX_WORD);
    put32(b + 28, DUET_TOK_PRETOK);
    for (size_t i = 0; i < 2 * (size_t)t->nmerges; i++)
        put32(b + TOK_HEADER + 4 * i, t->merges[i]);
    put32(b + len - 4, (uint32_t)crc32(0L, b, (uInt)(len - 4)));
    *n = len;
    return b;
}

void duet_tokenizer_free(duet_tokenizer *t)
{
    if (!t)
        return;
    duet_tok_encoder_free(t->enc);
    free(t->merges);
    free(t->tok_off);
    free(t->tok_len);
    free(t->tok_bytes);
    free(t->pm);
    free(t);
}

duet_tokenizer *duet_tok_from_merges(const uint32_t *merges, uint32_t nmerges, const char *what,
                                     duet_err *err)
{
    if (nmerges > TOK_MAX_MERGES) {
        duet_errf(err, "%s: %u merges, more than the limit %u", what, nmerges, TOK_MAX_MERGES);
        return NULL;
    }
    duet_tokenizer *t = duet_calloc(1, sizeof *t);
    t->nmerges = nmerges;
    t->vocab = DUET_TOK_NBASE + nmerges;
    t->merges = duet_malloc(sizeof(uint32_t) * 2 * (nmerges ? nmerges : 1));
    memcpy(t->merges, merges, sizeof(uint32_t) * 2 * nmerges);
    t->tok_off = duet_calloc(t->vocab, sizeof *t->tok_off);
    t->tok_len = duet_calloc(t->vocab, sizeof *t->tok_len);
    uint64_t size = 2;
    while (size < 2 * (uint64_t)nmerges + 2)
        size *= 2;
    t->pm = duet_calloc(size, sizeof *t->pm);
    t->pm_mask = size - 1;

    size_t total = 256;
    for (uint32_t k = 0; k < nmerges; k++) {
        uint32_t a = merges[2 * k], b = merges[2 * k + 1], id = DUET_TOK_NBASE + k;
        if (a < DUET_TOK_NSPECIAL || b < DUET_TOK_NSPECIAL || a >= id || b >= id) {
            duet_errf(err, "%s: inconsistent merge %u: (%u, %u) must join earlier non-special "
                      "tokens (ids %d..%u)", what, k, a, b, DUET_TOK_NSPECIAL, id - 1);
            goto fail;
        }
        size_t len = (size_t)(a < DUET_TOK_NBASE ? 1 : t->tok_len[a]) +
                     (b < DUET_TOK_NBASE ? 1 : t->tok_len[b]);
        if (len > DUET_TOK_MAX_WORD) {
            duet_errf(err, "%s: inconsistent merge %u: token of %zu bytes, longer than a word "
                      "(%d)", what, k, len, DUET_TOK_MAX_WORD);
            goto fail;
        }
        t->tok_len[id] = (uint8_t)len;
        total += len;
        uint32_t prev = pair_rank(t, a, b);
        if (prev != NO_RANK) {
            duet_errf(err, "%s: inconsistent merges %u and %u: both join (%u, %u)", what, prev,
                      k, a, b);
            goto fail;
        }
        uint64_t key = pair_key(a, b), h = mix64(key) & t->pm_mask;
        while (t->pm[h] != 0)
            h = (h + 1) & t->pm_mask;
        t->pm[h] = key << 21 | k;
    }
    /* Token bytes: bytes first, then each merge as the concatenation. */
    t->tok_bytes = duet_malloc(total);
    for (int v = 0; v < 256; v++) {
        t->tok_off[DUET_TOK_BYTE0 + v] = (uint32_t)v;
        t->tok_len[DUET_TOK_BYTE0 + v] = 1;
        t->tok_bytes[v] = (char)v;
    }
    size_t off = 256;
    for (uint32_t k = 0; k < nmerges; k++) {
        uint32_t a = merges[2 * k], b = merges[2 * k + 1], id = DUET_TOK_NBASE + k;
        t->tok_off[id] = (uint32_t)off;
        memcpy(t->tok_bytes + off, t->tok_bytes + t->tok_off[a], t->tok_len[a]);
        memcpy(t->tok_bytes + off + t->tok_len[a], t->tok_bytes + t->tok_off[b], t->tok_len[b]);
        off += t->tok_len[id];
    }
    size_t n;
    uint8_t *bytes = duet_tokenizer_to_bytes(t, &n);
    t->id = get32(bytes + n - 4);
    if (t->id == 0) /* 0 means "any tokenizer" to duet_shards_open */
        t->id = 1;
    free(bytes);
    return t;
fail:
    duet_tokenizer_free(t);
    return NULL;
}

duet_tokenizer *duet_tokenizer_from_bytes(const void *buf, size_t n, const char *what,
                                          duet_err *err)
{
    const uint8_t *b = buf;
    if (n < TOK_HEADER + 4) {
        duet_errf(err, "%s: not a tokenizer file (%zu bytes, truncated?)", what, n);
        return NULL;
    }
    if (memcmp(b, TOK_MAGIC, 8) != 0) {
        duet_errf(err, "%s: not a duet tokenizer file (bad magic)", what);
        return NULL;
    }
    uint32_t version = get32(b + 8), vocab = get32(b + 12), nspecial = get32(b + 16);
    uint32_t nmerges = get32(b + 20), max_word = get32(b + 24), pretok = get32(b + 28);
    if (version != TOK_VERSION) {
        duet_errf(err, "%s: tokenizer format version %u, this build reads version %d", what,
                  version, TOK_VERSION);
        return NULL;
    }
    if (nmerges > TOK_MAX_MERGES || n != TOK_HEADER + (size_t)nmerges * 8 + 4) {
        duet_errf(err, "%s: size %zu bytes does not match its %u merges (truncated?)", what, n,
                  nmerges);
        return NULL;
    }
    uint32_t crc = (uint32_t)crc32(0L, b, (uInt)(n - 4));
    if (crc != get32(b + n - 4)) {
        duet_errf(err, "%s: checksum mismatch (file corrupted)", what);
        return NULL;
    }
    if (nspecial != DUET_TOK_NSPECIAL || vocab != DUET_TOK_NBASE + nmerges ||
        max_word != DUET_TOK_MAX_WORD || pretok != DUET_TOK_PRETOK) {
        duet_errf(err, "%s: unsupported tokenizer parameters (vocab %u, specials %u, merges %u, "
                  "max word %u, pre-tokenizer %u)", what, vocab, nspecial, nmerges, max_word,
                  pretok);
        return NULL;
    }
    uint32_t *merges = duet_malloc(sizeof(uint32_t) * 2 * (nmerges ? nmerges : 1));
    for (size_t i = 0; i < 2 * (size_t)nmerges; i++)
        merges[i] = get32(b + TOK_HEADER + 4 * i);
    duet_tokenizer *t = duet_tok_from_merges(merges, nmerges, what, err);
    free(merges);
    return t;
}

duet_tokenizer *duet_tokenizer_load(const char *path, duet_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        duet_errf(err, "cannot open tokenizer '%s': %s", path, strerror(errno));
        return NULL;
    }
    /* A valid file is at most TOK_HEADER + 8 * TOK_MAX_MERGES + 4 bytes;
     * read one byte more to detect a longer one. The buffer follows the size
     * of a regular file (one byte more to notice growth), so a small file
     * does not cost the 8 MB of the largest. */
    size_t cap = TOK_HEADER + (size_t)TOK_MAX_MERGES * 8 + 5, n = 0, got;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size < cap)
        cap = (size_t)st.st_size + 1;
    uint8_t *buf = duet_malloc(cap);
    while (n < cap && (got = fread(buf + n, 1, cap - n, f)) > 0)
        n += got;
    int bad = ferror(f);
    fclose(f);
    duet_tokenizer *t = NULL;
    if (bad)
        duet_errf(err, "error reading tokenizer '%s'", path);
    else
        t = duet_tokenizer_from_bytes(buf, n, path, err);
    free(buf);
    return t;
}

int duet_tokenizer_save(const duet_tokenizer *t, const char *path, duet_err *err)
{
    size_t n;
    void *b = duet_tokenizer_to_bytes(t, &n);
    size_t plen = strlen(path) + 5;
    char *tmp = duet_malloc(plen);
    snprintf(tmp, plen, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    int rc = 0;
    if (!f) {
        rc = duet_errf(err, "cannot write tokenizer '%s': %s", tmp, strerror(errno));
    } else {
        int ok = fwrite(b, 1, n, f) == n;
        ok = (fflush(f) == 0) && ok;
        ok = (fsync(fileno(f)) == 0) && ok;
        ok = (fclose(f) == 0) && ok;
        if (!ok || rename(tmp, path) != 0) {
            rc = duet_errf(err, "cannot write tokenizer '%s': %s", path, strerror(errno));
            remove(tmp);
        }
    }
    free(tmp);
    free(b);
    return rc;
}

int duet_tokenizer_vocab_size(const duet_tokenizer *t)
{
    return (int)t->vocab;
}

uint32_t duet_tokenizer_id(const duet_tokenizer *t)
{
    return t->id;
}

const char *duet_tokenizer_token_bytes(const duet_tokenizer *t, int32_t id, size_t *len)
{
    if (id < DUET_TOK_BYTE0 || (uint32_t)id >= t->vocab) {
        *len = 0;
        return "";
    }
    *len = t->tok_len[id];
    return t->tok_bytes + t->tok_off[id];
}

/* -------------------------------------------------------------- encoding */

/* Cache entry (16 bytes, so the table stays in L2): the word's bytes and
 * ids live in the two arenas. */
typedef struct cache_slot {
    uint32_t hash;   /* high bits of the word hash */
    uint32_t key_off, tok_off;
    uint8_t key_len; /* 0 = empty (words are never empty) */
    uint8_t ntok;
} cache_slot;

/* When full, new words are encoded without being cached (the frequent
 * words of a text are among the first seen); after as many such misses as
 * the cache holds, it is emptied, to follow a change of vocabulary. */
#define CACHE_SLOTS ((size_t)1 << 18)
#define CACHE_MAX_ENTRIES (CACHE_SLOTS / 2)

struct duet_tok_encoder {
    const duet_tokenizer *t;
    cache_slot *slots;
    size_t used;
    uint8_t *keys;
    size_t keys_n, keys_cap;
    int32_t *toks;
    size_t toks_n, toks_cap;
    size_t full_misses;
    int32_t scratch[DUET_TOK_MAX_WORD];
};

duet_tok_encoder *duet_tok_encoder_create(const duet_tokenizer *t)
{
    duet_tok_encoder *e = duet_calloc(1, sizeof *e);
    e->t = t;
    e->slots = duet_calloc(CACHE_SLOTS, sizeof *e->slots);
    e->keys_cap = (size_t)1 << 20;
    e->keys = duet_malloc(e->keys_cap);
    e->toks_cap = (size_t)1 << 18;
    e->toks = duet_malloc(e->toks_cap * sizeof *e->toks);
    return e;
}

void duet_tok_encoder_free(duet_tok_encoder *e)
{
    if (!e)
        return;
    free(e->slots);
    free(e->keys);
    free(e->toks);
    free(e);
}

static inline uint64_t word_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    h = (h ^ v) * 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 29);
}

/* BPE on one word: repeatedly join the adjacent pair of lowest merge rank
 * (leftmost on ties). rank[i] caches the rank of (s[i], s[i+1]). */
static size_t bpe_word(const duet_tokenizer *t, const uint8_t *w, size_t n, int32_t *s)
{
    uint32_t rank[DUET_TOK_MAX_WORD];
    for (size_t i = 0; i < n; i++)
        s[i] = DUET_TOK_BYTE0 + w[i];
    for (size_t i = 0; i + 1 < n; i++)
        rank[i] = pair_rank(t, (uint32_t)s[i], (uint32_t)s[i + 1]);
    while (n > 1) {
        size_t best = 0;
        for (size_t i = 1; i + 1 < n; i++)
            if (rank[i] < rank[best])
                best = i;
        if (rank[best] == NO_RANK)
            break;
        s[best] = (int32_t)(DUET_TOK_NBASE + rank[best]);
        /* Symbols and pair ranks right of the join move left by one (words
         * are short: a plain loop beats a memmove call). */
        for (size_t i = best + 1; i + 1 < n; i++) {
            s[i] = s[i + 1];
            rank[i] = rank[i + 1];
        }
        n--;
        if (best > 0)
            rank[best - 1] = pair_rank(t, (uint32_t)s[best - 1], (uint32_t)s[best]);
        if (best + 1 < n)
            rank[best] = pair_rank(t, (uint32_t)s[best], (uint32_t)s[best + 1]);
    }
    return n;
}

static void cache_clear(duet_tok_encoder *e)
{
    memset(e->slots, 0, CACHE_SLOTS * sizeof *e->slots);
    e->used = e->keys_n = e->toks_n = e->full_misses = 0;
}

/* Ids of one word, from the cache or computed and cached. */
static const int32_t *encode_word(duet_tok_encoder *e, const uint8_t *w, size_t n, size_t *ntok)
{
    uint64_t h = word_hash(w, n);
    size_t i = (size_t)h & (CACHE_SLOTS - 1);
    for (;; i = (i + 1) & (CACHE_SLOTS - 1)) {
        cache_slot *c = &e->slots[i];
        if (c->key_len == 0)
            break;
        if (c->hash == (uint32_t)(h >> 32) && c->key_len == n &&
            memcmp(e->keys + c->key_off, w, n) == 0) {
            *ntok = c->ntok;
            return e->toks + c->tok_off;
        }
    }
    if (e->used >= CACHE_MAX_ENTRIES) {
        if (++e->full_misses <= CACHE_MAX_ENTRIES) {
            *ntok = bpe_word(e->t, w, n, e->scratch);
            return e->scratch;
        }
        cache_clear(e);
        i = (size_t)h & (CACHE_SLOTS - 1);
    }
    if (e->keys_n + n > e->keys_cap) {
        e->keys_cap *= 2;
        e->keys = duet_realloc(e->keys, e->keys_cap);
    }
    if (e->toks_n + n > e->toks_cap) {
        e->toks_cap *= 2;
        e->toks = duet_realloc(e->toks, e->toks_cap * sizeof *e->toks);
    }
    cache_slot *c = &e->slots[i];
    c->hash = (uint32_t)(h >> 32);
    c->key_off = (uint32_t)e->keys_n;
    c->key_len = (uint8_t)n;
    c->tok_off = (uint32_t)e->toks_n;
    memcpy(e->keys + e->keys_n, w, n);
    e->keys_n += n;
    c->ntok = (uint8_t)bpe_word(e->t, w, n, e->toks + e->toks_n);
    e->toks_n += c->ntok;
    e->used++;
    *ntok = c->ntok;
    return e->toks + c->tok_off;
}

void duet_tok_encode_append(duet_tok_encoder *e, const char *text, size_t len, int32_t **ids,
                            size_t *n, size_t *cap)
{
    if (len == 0)
        return;
    /* At most one id per byte: grow once. */
    if (*cap - *n < len) {
        *cap = DUET_MAX(*n + len, *cap * 2);
        *ids = duet_realloc(*ids, DUET_MAX(*cap, (size_t)1) * sizeof **ids);
    }
    const uint8_t *s = (const uint8_t *)text;
    int32_t *out = *ids + *n;
    size_t i = 0;
    while (i < len) {
        size_t w = duet_pretok_word(s + i, len - i);
        if (w == 1) {
            *out++ = DUET_TOK_BYTE0 + s[i];
        } else {
            size_t k;
            const int32_t *t = encode_word(e, s + i, w, &k);
            for (size_t j = 0; j < k; j++)
                out[j] = t[j];
            out += k;
        }
        i += w;
    }
    *n = (size_t)(out - *ids);
}

int32_t *duet_tokenizer_encode(duet_tokenizer *t, const char *text, size_t len, size_t *n)
{
    if (!t->enc)
        t->enc = duet_tok_encoder_create(t);
    int32_t *ids = NULL;
    size_t cap = 0;
    *n = 0;
    duet_tok_encode_append(t->enc, text, len, &ids, n, &cap);
    if (!ids)
        ids = duet_malloc(sizeof *ids);
    return ids;
}

char *duet_tokenizer_decode(const duet_tokenizer *t, const int32_t *ids, size_t n, size_t *len)
{
    size_t total = 0, l;
    for (size_t i = 0; i < n; i++) {
        duet_tokenizer_token_bytes(t, ids[i], &l);
        total += l;
    }
    char *out = duet_malloc(total + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        const char *b = duet_tokenizer_token_bytes(t, ids[i], &l);
        memcpy(o, b, l);
        o += l;
    }
    *o = 0;
    if (len)
        *len = total;
    return out;
}
