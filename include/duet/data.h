/* duet/data.h — tokenizer, shard files and the training-sequence loader.
 *
 * Tokenizer: byte-level BPE. Ids 0..DUET_TOK_NSPECIAL-1 are reserved special
 * tokens (PAD, BOS, EOS, UNK, MASK, then room for more), the next 256 ids are
 * the raw bytes, merges follow. Ordinary text never produces a special id,
 * and decode(encode(x)) == x for every byte string.
 *
 * Shards: token files with a self-describing header (docs/formats.md), read
 * through mmap and validated on open (magic, version, sizes, CRC32, vocab).
 *
 * Loader: the training stream is random access by a global sequence index:
 * index i belongs to epoch i / N (N sequences per epoch) and maps through a
 * seeded permutation of that epoch. The trainer gives rank r of R, micro-step
 * a of A, row b of B the index cursor + a*R*B + r*B + b, so ranks are
 * disjoint, every sequence of an epoch is used once, the order does not
 * depend on the rank count, and the cursor alone restarts the stream.
 */
#ifndef DUET_DATA_H
#define DUET_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "duet/util.h"

/* ------------------------------------------------------------- tokenizer */

enum {
    DUET_TOK_PAD = 0,
    DUET_TOK_BOS = 1,
    DUET_TOK_EOS = 2,
    DUET_TOK_UNK = 3,
    DUET_TOK_MASK = 4,
    DUET_TOK_NSPECIAL = 16, /* ids 5..15 reserved for future special tokens */
    DUET_TOK_BYTE0 = DUET_TOK_NSPECIAL, /* id of byte value 0 */
};

typedef struct duet_tokenizer duet_tokenizer;

typedef struct duet_bpe_train_opts {
    int vocab_size;          /* total, including specials and bytes */
    size_t sample_bytes;     /* at most this much input text is used */
    int threads;
} duet_bpe_train_opts;

/* Trains from the documents of the given input files (same readers as
 * duet-prep shards); memory is bounded by sample_bytes, not corpus size. */
duet_tokenizer *duet_tokenizer_train(const char *const *paths, int npaths, const char *format,
                                     const char *jsonl_field, const duet_bpe_train_opts *o,
                                     duet_err *err);
duet_tokenizer *duet_tokenizer_load(const char *path, duet_err *err);
/* Same bytes as a tokenizer file (checkpoints embed the tokenizer). */
duet_tokenizer *duet_tokenizer_from_bytes(const void *buf, size_t n, const char *what,
                                          duet_err *err);
void *duet_tokenizer_to_bytes(const duet_tokenizer *t, size_t *n);
int duet_tokenizer_save(const duet_tokenizer *t, const char *path, duet_err *err);
void duet_tokenizer_free(duet_tokenizer *t);
int duet_tokenizer_vocab_size(const duet_tokenizer *t);
/* 32-bit checksum identifying the vocabulary (shards record it). */
uint32_t duet_tokenizer_id(const duet_tokenizer *t);

/* Encodes len bytes; returns a malloc'ed array of *n ids. */
int32_t *duet_tokenizer_encode(duet_tokenizer *t, const char *text, size_t len, size_t *n);
/* Decodes ids to bytes (special ids produce nothing); malloc'ed, NUL-
 * terminated, *len excludes the NUL. */
char *duet_tokenizer_decode(const duet_tokenizer *t, const int32_t *ids, size_t n, size_t *len);

/* ---------------------------------------------------------------- shards */

typedef struct duet_shard_set duet_shard_set;

/* Opens shards given as a file, a directory (every *.bin in it, sorted), or a
 * prefix (prefix_*.bin). Every file is validated. expected_vocab /
 * expected_tok_id of 0 accept any. */
duet_shard_set *duet_shards_open(const char *spec, int expected_vocab, uint32_t expected_tok_id,
                                 duet_err *err);
void duet_shards_close(duet_shard_set *s);
uint64_t duet_shards_num_tokens(const duet_shard_set *s);
uint64_t duet_shards_num_docs(const duet_shard_set *s);
int duet_shards_vocab_size(const duet_shard_set *s);
int duet_shards_paired(const duet_shard_set *s);

/* ---------------------------------------------------------------- loader */

enum duet_data_mode { DUET_DATA_PACKED = 0, DUET_DATA_DOCUMENT = 1 };

typedef struct duet_loader_config {
    int seq_len;            /* L (target length for paired data) */
    int src_len;            /* source length for paired data, else 0 */
    enum duet_data_mode mode;
    uint64_t seed;
} duet_loader_config;

typedef struct duet_loader duet_loader;

duet_loader *duet_loader_create(const duet_shard_set *s, const duet_loader_config *c,
                                duet_err *err);
void duet_loader_free(duet_loader *l);
/* Sequences per epoch. */
uint64_t duet_loader_epoch_size(const duet_loader *l);
/* Sequence number `index` of the stream: tokens [seq_len] (PAD-filled in
 * document mode), src [src_len] for paired data (may be NULL otherwise).
 * Pure function of (shards, config, index). */
void duet_loader_get(const duet_loader *l, uint64_t index, int32_t *tokens, int32_t *src);
/* Rows b = 0..B-1 of micro-step a for rank r of R at `cursor` (see above). */
void duet_loader_batch(const duet_loader *l, uint64_t cursor, int a, int rank, int world, int B,
                       int32_t *tokens, int32_t *src);

#endif
