/* Training-sequence loader: frames the raw documents of a shard set into
 * fixed-length sequences (packed, document, paired; see duet/data.h) and
 * serves them by global sequence index through a per-epoch permutation.
 *
 * Every sequence is a pure function of (shards, config, index): epoch
 * e = index / N, window duet_permute(index % N, N, seed, e). Memory is O(1)
 * for packed and paired data and one u64 per document in document mode. */
#include "duet/data.h"

#include <stdlib.h>
#include <string.h>

#include "duet/rng.h"

struct duet_loader {
    const duet_shard_set *s;
    duet_loader_config c;
    int paired;
    uint64_t ndocs;       /* documents (paired: records) */
    uint64_t n;           /* sequences per epoch */
    uint64_t stream_len;  /* packed: tokens of BOS d EOS ... */
    uint64_t *win_base;   /* document: [ndocs+1] first window of each document */
    uint64_t cut_tgt, cut_src;
};

/* Framed length of document d: BOS d EOS. */
static uint64_t framed_len(const duet_shard_set *s, uint64_t d)
{
    return duet_shards_doc_len(s, d) + 2;
}

/* Writes up to n tokens of the framed document d (BOS d EOS) from framed
 * position q into out; returns how many (fewer when the document ends). */
static size_t frame(const duet_shard_set *s, uint64_t d, uint64_t q, int32_t *out, size_t n)
{
    uint64_t len = duet_shards_doc_len(s, d);
    size_t k = 0;
    if (q == 0 && k < n) {
        out[k++] = DUET_TOK_BOS;
        q = 1;
    }
    if (k < n && q <= len) {
        size_t m = (size_t)DUET_MIN((uint64_t)(n - k), len - (q - 1));
        duet_shards_read(s, d, q - 1, m, out + k);
        k += m;
        q += m;
    }
    if (k < n && q == len + 1)
        out[k++] = DUET_TOK_EOS;
    return k;
}

static void pad(int32_t *out, size_t from, size_t n)
{
    for (size_t i = from; i < n; i++)
        out[i] = DUET_TOK_PAD;
}

/* Paired side: BOS t EOS PAD... in n, or BOS + the first n-1 tokens. */
static void frame_cut(const duet_shard_set *s, uint64_t d, int32_t *out, size_t n)
{
    size_t k = frame(s, d, 0, out, n);
    pad(out, k, n);
}

duet_loader *duet_loader_create(const duet_shard_set *s, const duet_loader_config *c,
                                duet_err *err)
{
    if (c->seq_len < 2) {
        duet_errf(err, "loader: seq_len %d must be at least 2 (BOS and EOS)", c->seq_len);
        return NULL;
    }
    int paired = duet_shards_paired(s);
    if (paired && c->src_len < 2) {
        duet_errf(err, "loader: paired shards need a source length src_len >= 2 (got %d)",
                  c->src_len);
        return NULL;
    }
    if (c->mode != DUET_DATA_PACKED && c->mode != DUET_DATA_DOCUMENT) {
        duet_errf(err, "loader: unknown data mode %d", (int)c->mode);
        return NULL;
    }
    uint64_t ndocs = duet_shards_num_docs(s);
    if (ndocs == 0) {
        duet_errf(err, "loader: the shards (%s, ...) hold no documents",
                  duet_shards_file(s, 0));
        return NULL;
    }
    duet_loader *l = duet_calloc(1, sizeof *l);
    l->s = s;
    l->c = *c;
    l->paired = paired;
    uint64_t L = (uint64_t)c->seq_len;
    if (paired) {
        l->ndocs = ndocs / 2;
        l->n = l->ndocs;
        for (uint64_t p = 0; p < l->ndocs; p++) {
            l->cut_src += framed_len(s, 2 * p) > (uint64_t)c->src_len;
            l->cut_tgt += framed_len(s, 2 * p + 1) > L;
        }
    } else if (c->mode == DUET_DATA_PACKED) {
        l->ndocs = ndocs;
        l->stream_len = duet_shards_num_tokens(s) + 2 * ndocs;
        l->n = (l->stream_len + L - 1) / L;
    } else {
        l->ndocs = ndocs;
        l->win_base = duet_malloc((ndocs + 1) * sizeof *l->win_base);
        l->win_base[0] = 0;
        for (uint64_t d = 0; d < ndocs; d++)
            l->win_base[d + 1] = l->win_base[d] + (framed_len(s, d) + L - 1) / L;
        l->n = l->win_base[ndocs];
    }
    return l;
}

void duet_loader_free(duet_loader *l)
{
    if (!l)
        return;
    free(l->win_base);
    free(l);
}

uint64_t duet_loader_epoch_size(const duet_loader *l)
{
    return l->n;
}

uint64_t duet_loader_truncated(const duet_loader *l, uint64_t *src_cut)
{
    if (src_cut)
        *src_cut = l->cut_src;
    return l->cut_tgt;
}

/* Packed: the last document whose framed start BOS is at or before stream
 * position p (start of d = its token offset + 2d). */
static uint64_t packed_doc(const duet_loader *l, uint64_t p)
{
    uint64_t lo = 0, hi = l->ndocs - 1;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo + 1) / 2;
        if (duet_shards_doc_offset(l->s, mid) + 2 * mid <= p)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

static void get_packed(const duet_loader *l, uint64_t w, int32_t *out)
{
    size_t L = (size_t)l->c.seq_len, k = 0;
    uint64_t p = w * L;
    uint64_t d = packed_doc(l, p);
    uint64_t q = p - (duet_shards_doc_offset(l->s, d) + 2 * d);
    while (k < L && d < l->ndocs) {
        k += frame(l->s, d, q, out + k, L - k);
        d++;
        q = 0;
    }
    pad(out, k, L);
}

static void get_document(const duet_loader *l, uint64_t w, int32_t *out)
{
    uint64_t lo = 0, hi = l->ndocs - 1; /* last document with win_base <= w */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo + 1) / 2;
        if (l->win_base[mid] <= w)
            lo = mid;
        else
            hi = mid - 1;
    }
    size_t L = (size_t)l->c.seq_len;
    size_t k = frame(l->s, lo, (w - l->win_base[lo]) * L, out, L);
    pad(out, k, L);
}

void duet_loader_get(const duet_loader *l, uint64_t index, int32_t *tokens, int32_t *src)
{
    uint64_t epoch = index / l->n;
    uint64_t w = duet_permute(index % l->n, l->n, l->c.seed, epoch);
    if (l->paired) {
        frame_cut(l->s, 2 * w + 1, tokens, (size_t)l->c.seq_len);
        if (src)
            frame_cut(l->s, 2 * w, src, (size_t)l->c.src_len);
    } else if (l->c.mode == DUET_DATA_PACKED) {
        get_packed(l, w, tokens);
    } else {
        get_document(l, w, tokens);
    }
}

void duet_loader_batch(const duet_loader *l, uint64_t cursor, int a, int rank, int world, int B,
                       int32_t *tokens, int32_t *src)
{
    uint64_t base = cursor + (uint64_t)a * (uint64_t)world * (uint64_t)B + (uint64_t)rank * B;
    for (int b = 0; b < B; b++)
        duet_loader_get(l, base + (uint64_t)b, tokens + (size_t)b * (size_t)l->c.seq_len,
                        src && l->paired ? src + (size_t)b * (size_t)l->c.src_len : NULL);
}
