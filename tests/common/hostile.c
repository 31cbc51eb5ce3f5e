#define _GNU_SOURCE /* memfd_create */
#include "hostile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "duet/ckpt.h"
#include "duet/sampler.h"
/* The checkpoint layout is private to src/ckpt; the tests reuse its codec
 * rather than restating the offsets. */
#include "../../src/ckpt/ckpt_format.h"

/* Tokenizer and shard layouts (docs/formats.md). */
#define TOK_HEADER 32
#define SHARD_HEADER 128
#define SHARD_PAYLOAD_CRC 80
#define SHARD_HEADER_CRC 124

static const char *const magic[HOSTILE_NKINDS] = {"DUETCKPT", "DUETSHRD", "DUETTOKN"};

int hostile_kind_of(const uint8_t *b, size_t n)
{
    for (int k = 0; k < HOSTILE_NKINDS; k++)
        if (n >= 8 && memcmp(b, magic[k], 8) == 0)
            return k;
    return -1;
}

const char *hostile_kind_name(hostile_kind k)
{
    static const char *const names[HOSTILE_NKINDS] = {"checkpoint", "shard", "tokenizer"};
    return names[k];
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t crc(const uint8_t *b, size_t n)
{
    return (uint32_t)crc32_z(crc32(0L, Z_NULL, 0), b, n);
}

static void fix_ckpt(uint8_t *b, size_t n)
{
    if (n < DUET_CKPT_HEADER_SIZE)
        return;
    duet_ckpt_fmt_header h;
    duet_ckpt_fmt_get_header(b, &h);
    uint64_t table_end = DUET_CKPT_HEADER_SIZE + (uint64_t)h.nsections * DUET_CKPT_ENTRY_SIZE;
    if (table_end > n)
        return;
    for (uint32_t i = 0; i < h.nsections; i++) {
        uint8_t *eb = b + DUET_CKPT_HEADER_SIZE + (size_t)i * DUET_CKPT_ENTRY_SIZE;
        duet_ckpt_fmt_entry e;
        duet_ckpt_fmt_get_entry(eb, &e);
        if (e.method == DUET_CKPT_STORED && e.offset <= n && e.comp_size <= n - e.offset) {
            e.crc32 = crc(b + e.offset, (size_t)e.comp_size);
            duet_ckpt_fmt_put_entry(eb, &e);
        }
    }
    put32(b + DUET_CKPT_CRC_FIELD, duet_ckpt_fmt_table_crc(b, (size_t)table_end));
}

void hostile_fix_crc(hostile_kind k, uint8_t *b, size_t n)
{
    switch (k) {
    case HOSTILE_CKPT:
        fix_ckpt(b, n);
        break;
    case HOSTILE_SHARD:
        if (n >= SHARD_HEADER) {
            put32(b + SHARD_PAYLOAD_CRC, crc(b + SHARD_HEADER, n - SHARD_HEADER));
            put32(b + SHARD_HEADER_CRC, crc(b, SHARD_HEADER_CRC));
        }
        break;
    case HOSTILE_TOK:
        if (n >= 4)
            put32(b + n - 4, crc(b, n - 4));
        break;
    default:
        break;
    }
}

int hostile_tok_check(const duet_tokenizer *t, uint64_t *digest, duet_err *err)
{
    size_t n;
    uint8_t *bytes = duet_tokenizer_to_bytes(t, &n);
    uint64_t d = duet_hash64(bytes, n, 1);
    free(bytes);
    int vocab = duet_tokenizer_vocab_size(t);
    for (int32_t id = 0; id < vocab; id++) {
        size_t len;
        const char *tb = duet_tokenizer_token_bytes(t, id, &len);
        d = duet_hash64(tb, len, d);
    }
    static const char words[] = " the cat sat on the mat, 1234 times!\n\tand then";
    char text[512 + sizeof words - 1];
    for (int i = 0; i < 512; i++)
        text[i] = (char)(i * 37 % 256);
    memcpy(text + 512, words, sizeof words - 1);
    duet_tok_encoder *e = duet_tok_encoder_create(t);
    int32_t *ids = NULL;
    size_t nids = 0, cap = 0, len = 0;
    duet_tok_encode_append(e, text, sizeof text, &ids, &nids, &cap);
    duet_tok_encoder_free(e);
    int rc = 0;
    for (size_t i = 0; i < nids && rc == 0; i++)
        if (ids[i] < DUET_TOK_BYTE0 || ids[i] >= vocab)
            rc = duet_errf(err, "accepted tokenizer encodes to id %d outside [%d, %d)", ids[i],
                           DUET_TOK_BYTE0, vocab);
    char *back = rc == 0 ? duet_tokenizer_decode(t, ids, nids, &len) : NULL;
    if (back && (len != sizeof text || memcmp(back, text, len) != 0))
        rc = duet_errf(err, "accepted tokenizer does not round-trip (%zu bytes in, %zu out)",
                       sizeof text, len);
    free(back);
    free(ids);
    *digest = d;
    return rc == 0 ? 0 : -2;
}

static int consume_ckpt(const char *path, uint64_t *digest, duet_err *err)
{
    duet_ckpt *h = duet_ckpt_open(path, err);
    if (!h)
        return -1;
    if (duet_ckpt_check(h, err) != 0) {
        duet_ckpt_close(h);
        return -1;
    }
    /* Verified: each section's CRC matches its raw bytes, so (name, size,
     * CRC) identify the content whatever the compressed bytes are. */
    int64_t step = duet_ckpt_step(h);
    uint64_t d = duet_hash64(&step, sizeof step, 2);
    d = duet_hash64(duet_ckpt_objective(h), strlen(duet_ckpt_objective(h)), d);
    for (size_t i = 0; i < duet_ckpt_nsections(h); i++) {
        const duet_ckpt_entry *e = duet_ckpt_entry_at(h, i);
        uint64_t v[3] = {e->raw_size, e->crc32, e->elem_size};
        d = duet_hash64(e->name, strlen(e->name), d);
        d = duet_hash64(v, sizeof v, d);
    }
    duet_ckpt_close(h);
    duet_model m;
    if (duet_model_load(&m, path, 1, 1, err) != 0)
        return -1;
    duet_model_free(&m);
    *digest = d;
    return 0;
}

static int consume_shard(const char *path, uint64_t *digest, duet_err *err)
{
    duet_shard_set *s = duet_shards_open(path, 0, 0, err);
    if (!s)
        return -1;
    uint64_t head[6] = {(uint64_t)duet_shards_vocab_size(s), duet_shards_tokenizer_id(s),
                        (uint64_t)duet_shards_paired(s), duet_shards_num_docs(s),
                        duet_shards_num_tokens(s), duet_shards_text_bytes(s)};
    uint64_t d = duet_hash64(head, sizeof head, 3), total = 0;
    int vocab = duet_shards_vocab_size(s), rc = 0;
    int32_t *buf = NULL;
    size_t cap = 0;
    for (uint64_t doc = 0; doc < duet_shards_num_docs(s) && rc == 0; doc++) {
        uint64_t len = duet_shards_doc_len(s, doc);
        if (duet_shards_doc_offset(s, doc) != total || len > duet_shards_num_tokens(s) - total) {
            rc = duet_errf(err, "%s: accepted shard: document %llu spans past the tokens", path,
                           (unsigned long long)doc);
            break;
        }
        total += len;
        if (len > cap) {
            cap = (size_t)len;
            buf = duet_realloc(buf, cap * sizeof *buf);
        }
        duet_shards_read(s, doc, 0, (size_t)len, buf);
        for (uint64_t i = 0; i < len && rc == 0; i++)
            if (buf[i] < 0 || buf[i] >= vocab)
                rc = duet_errf(err, "%s: accepted shard holds token id %d (vocab %d)", path, buf[i],
                               vocab);
        d = duet_hash64(&len, sizeof len, d);
        d = duet_hash64(buf, (size_t)len * sizeof *buf, d);
    }
    free(buf);
    duet_shards_close(s);
    *digest = d;
    return rc == 0 ? 0 : -2;
}

int hostile_consume(hostile_kind k, const char *path, uint64_t *digest, duet_err *err)
{
    *digest = 0;
    if (k == HOSTILE_CKPT)
        return consume_ckpt(path, digest, err);
    if (k == HOSTILE_SHARD)
        return consume_shard(path, digest, err);
    duet_tokenizer *t = duet_tokenizer_load(path, err);
    if (!t)
        return -1;
    int rc = hostile_tok_check(t, digest, err);
    duet_tokenizer_free(t);
    return rc;
}

const char *hostile_memfile(const uint8_t *b, size_t n)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("duet-hostile", 0);
        if (fd < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (n > 0 && pwrite(fd, b, n, 0) != (ssize_t)n)) {
        perror("hostile_memfile");
        abort();
    }
    return path;
}
