/* duet/data.h — tokenizer, shard files and the training-sequence loader.
 *
 * Tokenizer: byte-level BPE. Ids 0..DUET_TOK_NSPECIAL-1 are reserved special
 * tokens (PAD, BOS, EOS, UNK, MASK, then room for more), the next 256 ids are
 * the raw bytes, merges follow. Ordinary text never produces a special id,
 * and decode(encode(x)) == x for every byte string.
 *
 * Text input: streaming readers of plain text (lines or paragraphs), JSONL
 * and TSV pairs, each optionally gzip-compressed.
 *
 * Shards: token files with a self-describing header (docs/formats.md), read
 * through mmap and validated on open (magic, version, sizes, CRC32, vocab);
 * duet_shards_build is `duet-prep shards`.
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

/* Where documents come from (duet-prep `input`, `input_format`, ...). */
typedef struct duet_text_spec {
    const char *const *paths; /* .txt .jsonl .tsv, each optionally .gz */
    int npaths;
    const char *format;       /* auto|lines|paragraphs|jsonl|tsv */
    const char *jsonl_field;  /* unpaired JSONL */
    int paired;               /* records are (source, target) */
    const char *source_field; /* paired JSONL */
    const char *target_field;
} duet_text_spec;

/* Training is single-threaded: counting a 64 MB sample and the merge loop
 * take seconds (docs/formats.md, "Training"). */
typedef struct duet_bpe_train_opts {
    int vocab_size;          /* total, including specials and bytes */
    size_t sample_bytes;     /* at most this much input text is used */
    int progress;            /* print progress lines to stderr */
} duet_bpe_train_opts;

/* Trains from the documents of the given inputs (same readers as duet-prep
 * shards; paired records contribute both sides); memory is bounded by
 * sample_bytes, not corpus size. The vocabulary may come out smaller than
 * asked when the sample has fewer distinct pairs. */
duet_tokenizer *duet_tokenizer_train(const duet_text_spec *in, const duet_bpe_train_opts *o,
                                     duet_err *err);
duet_tokenizer *duet_tokenizer_load(const char *path, duet_err *err);
/* Same bytes as a tokenizer file (checkpoints embed the tokenizer). */
duet_tokenizer *duet_tokenizer_from_bytes(const void *buf, size_t n, const char *what,
                                          duet_err *err);
void *duet_tokenizer_to_bytes(const duet_tokenizer *t, size_t *n);
int duet_tokenizer_save(const duet_tokenizer *t, const char *path, duet_err *err);
void duet_tokenizer_free(duet_tokenizer *t);
int duet_tokenizer_vocab_size(const duet_tokenizer *t);
/* 32-bit checksum identifying the vocabulary (shards record it); never 0. */
uint32_t duet_tokenizer_id(const duet_tokenizer *t);
/* Bytes of one token (empty for special ids and ids out of range). */
const char *duet_tokenizer_token_bytes(const duet_tokenizer *t, int32_t id, size_t *len);

/* Encodes len bytes; returns a malloc'ed array of *n ids. Uses a word cache
 * inside t, so one tokenizer must not encode from two threads at once (use
 * one duet_tok_encoder per thread). */
int32_t *duet_tokenizer_encode(duet_tokenizer *t, const char *text, size_t len, size_t *n);
/* Decodes ids to bytes (special ids produce nothing); malloc'ed, NUL-
 * terminated, *len excludes the NUL. */
char *duet_tokenizer_decode(const duet_tokenizer *t, const int32_t *ids, size_t n, size_t *len);

/* A per-thread encoder: the tokenizer (read only, shared) plus a bounded
 * cache of encoded words. Output never depends on the cache. */
typedef struct duet_tok_encoder duet_tok_encoder;
duet_tok_encoder *duet_tok_encoder_create(const duet_tokenizer *t);
void duet_tok_encoder_free(duet_tok_encoder *e);
/* Appends the ids of text[0..len) to *ids (malloc'ed, capacity *cap, count
 * *n; all grown as needed). */
void duet_tok_encode_append(duet_tok_encoder *e, const char *text, size_t len, int32_t **ids,
                            size_t *n, size_t *cap);

/* ----------------------------------------------------------- text input */

/* Streaming document reader over the inputs of a duet_text_spec: one
 * document in memory at a time. */
typedef struct duet_text_reader duet_text_reader;

typedef struct duet_text_record {
    const char *text[2]; /* [0] document (or source if paired), [1] target */
    size_t len[2];
    uint64_t index;      /* record number over all inputs, from 0 */
    const char *file;    /* where it came from, for messages */
    uint64_t line;       /* 1-based first line */
} duet_text_record;

duet_text_reader *duet_text_open(const duet_text_spec *s, duet_err *err);
/* 1: *rec filled (valid until the next call), 0: end of input, -1: error
 * (malformed JSON line, TSV line without a tab, unreadable file, ...). */
int duet_text_next(duet_text_reader *r, duet_text_record *rec, duet_err *err);
/* Uncompressed input bytes consumed so far (progress reports). */
uint64_t duet_text_bytes(const duet_text_reader *r);
void duet_text_close(duet_text_reader *r);

/* ---------------------------------------------------------------- shards */

/* A shard file holds raw document tokens (no BOS/EOS; the loader frames
 * them), the document offsets and CRC32s (format: docs/formats.md). Paired
 * shards hold records as two documents each: source then target. */
typedef struct duet_shard_set duet_shard_set;

/* Opens shards given as a file, a directory (every *.bin in it, sorted), or a
 * prefix (prefix_*.bin). Every file is validated. expected_vocab /
 * expected_tok_id of 0 accept any; files of one set must agree. */
duet_shard_set *duet_shards_open(const char *spec, int expected_vocab, uint32_t expected_tok_id,
                                 duet_err *err);
void duet_shards_close(duet_shard_set *s);
uint64_t duet_shards_num_tokens(const duet_shard_set *s);
uint64_t duet_shards_num_docs(const duet_shard_set *s);
int duet_shards_vocab_size(const duet_shard_set *s);
uint32_t duet_shards_tokenizer_id(const duet_shard_set *s);
int duet_shards_paired(const duet_shard_set *s);
int duet_shards_num_files(const duet_shard_set *s);
const char *duet_shards_file(const duet_shard_set *s, int i);
/* Bytes of input text the tokens came from (bytes per token = this / tokens). */
uint64_t duet_shards_text_bytes(const duet_shard_set *s);
/* Document d of the set (files in order; paired: 2p = source, 2p+1 = target
 * of record p): its length, and n of its tokens from position off. */
uint64_t duet_shards_doc_len(const duet_shard_set *s, uint64_t d);
/* Position of document d's first token in the set's token sequence. */
uint64_t duet_shards_doc_offset(const duet_shard_set *s, uint64_t d);
void duet_shards_read(const duet_shard_set *s, uint64_t d, uint64_t off, size_t n, int32_t *out);

/* Writes one shard file: to path.tmp, renamed over path by finish, so a
 * failed or interrupted write never leaves a file under the final name.
 * Document offsets are spilled to a temporary file, so memory is O(1). */
typedef struct duet_shard_writer duet_shard_writer;
duet_shard_writer *duet_shard_writer_create(const char *path, int vocab, uint32_t tok_id,
                                            int paired, duet_err *err);
/* Appends a document of n ids (each < vocab) made from text_bytes bytes. */
int duet_shard_writer_add(duet_shard_writer *w, const int32_t *ids, size_t n, uint64_t text_bytes,
                          duet_err *err);
/* Finishes and closes (frees w in every case). */
int duet_shard_writer_finish(duet_shard_writer *w, duet_err *err);
/* Removes the temporary files and frees w. */
void duet_shard_writer_abort(duet_shard_writer *w);

/* `duet-prep shards`: streams the inputs, tokenizes (threads), writes
 * out_dir/train_NNNNN.bin (num_shards files, record k of the training part
 * to file k mod num_shards) and out_dir/val_00000.bin. A record goes to
 * validation when a hash of (seed, record index) falls below val_fraction,
 * unless val_in has paths: then val_in is the validation set. */
typedef struct duet_shards_build_opts {
    duet_text_spec in;
    duet_text_spec val_in;
    const char *out_dir;
    int num_shards;
    double val_fraction;
    uint64_t seed;
    int threads;
    int progress;           /* print MB processed and MB/s to stderr */
} duet_shards_build_opts;

typedef struct duet_shards_report {
    uint64_t records;       /* read from the inputs */
    uint64_t empty;         /* skipped: empty document (paired: either side) */
    uint64_t docs[2];       /* written: [0] train, [1] val (paired: records) */
    uint64_t tokens[2];
    uint64_t text_bytes;    /* bytes of text tokenized */
    double seconds;
} duet_shards_report;

int duet_shards_build(const duet_shards_build_opts *o, const duet_tokenizer *t,
                      duet_shards_report *rep, duet_err *err);

/* ---------------------------------------------------------------- loader */

/* Framing (shards store raw tokens):
 *   packed    the split's stream BOS d0 EOS BOS d1 EOS ... cut into windows
 *             of seq_len; N = ceil(stream / seq_len), the last window PAD-
 *             filled: every token once per epoch.
 *   document  each document is BOS d EOS, PAD-filled to a multiple of
 *             seq_len; a longer document continues in the next window(s).
 *   paired    (paired shards; mode ignored) one sequence per record: target
 *             BOS t EOS PAD... in seq_len, source likewise in src_len. A side
 *             longer than its window is cut to BOS + its first len-1 tokens
 *             (no EOS, so the model never learns a false end); the cuts are
 *             counted by duet_loader_truncated. */
enum duet_data_mode { DUET_DATA_PACKED = 0, DUET_DATA_DOCUMENT = 1 };

typedef struct duet_loader_config {
    int seq_len;            /* L (target length for paired data) */
    int src_len;            /* source length for paired data, else unused */
    enum duet_data_mode mode;
    uint64_t seed;
} duet_loader_config;

typedef struct duet_loader duet_loader;

duet_loader *duet_loader_create(const duet_shard_set *s, const duet_loader_config *c,
                                duet_err *err);
void duet_loader_free(duet_loader *l);
/* Sequences per epoch. */
uint64_t duet_loader_epoch_size(const duet_loader *l);
/* Paired data: records whose target (returned) / source (*src_cut) is cut
 * to fit its window, per epoch. 0 for unpaired data. */
uint64_t duet_loader_truncated(const duet_loader *l, uint64_t *src_cut);
/* Sequence number `index` of the stream: tokens [seq_len] (PAD-filled in
 * document mode), src [src_len] for paired data (may be NULL otherwise).
 * Pure function of (shards, config, index). */
void duet_loader_get(const duet_loader *l, uint64_t index, int32_t *tokens, int32_t *src);
/* Rows b = 0..B-1 of micro-step a for rank r of R at `cursor` (see above):
 * tokens [B][seq_len], src [B][src_len] (paired) or NULL. */
void duet_loader_batch(const duet_loader *l, uint64_t cursor, int a, int rank, int world, int B,
                       int32_t *tokens, int32_t *src);

#endif
