/* Hostile-input helpers shared by tests/tools/corrupt.c (the corruption
 * campaign) and the libFuzzer harnesses in tests/fuzz/: the three file kinds
 * duet reads from disk, repair of their checksums (so a mutation reaches the
 * checks behind the CRC instead of stopping at it), and a consumer that
 * reads a file the way the binaries do and digests what it accepted. */
#ifndef DUET_HOSTILE_H
#define DUET_HOSTILE_H

#include <stddef.h>
#include <stdint.h>

#include "duet/data.h"
#include "duet/util.h"

typedef enum { HOSTILE_CKPT, HOSTILE_SHARD, HOSTILE_TOK, HOSTILE_NKINDS } hostile_kind;

/* Kind from the magic at the start of b, or -1. */
int hostile_kind_of(const uint8_t *b, size_t n);
const char *hostile_kind_name(hostile_kind k);

/* Recomputes every checksum of b[0..n) that can be recomputed without
 * decoding (checkpoint: header/table CRC and CRCs of stored sections; shard:
 * payload and header CRCs; tokenizer: trailing CRC). Fields that point
 * outside b are left alone. */
void hostile_fix_crc(hostile_kind k, uint8_t *b, size_t n);

/* Reads `path` as its consumer does: checkpoint: open and check every
 * section (duet_ckpt_check), then duet_model_load (what duet-sample does);
 * shard: duet_shards_open and every document read; tokenizer:
 * duet_tokenizer_load and hostile_tok_check.
 * Returns 0 with *digest of the accepted content, -1 when the reader rejected
 * the file (message in err), -2 when the reader accepted a file that then
 * misbehaved (message in err: a reader bug). */
int hostile_consume(hostile_kind k, const char *path, uint64_t *digest, duet_err *err);

/* Exercises an accepted tokenizer: every token's bytes, and encode/decode
 * round trip of a text with every byte value. Returns 0 with *digest of the
 * vocabulary, or -2 (message in err) if the round trip fails. */
int hostile_tok_check(const duet_tokenizer *t, uint64_t *digest, duet_err *err);

/* A memory-backed file holding b[0..n) (memfd; one per process, rewritten on
 * each call), for readers that take a path: returns "/proc/self/fd/N". */
const char *hostile_memfile(const uint8_t *b, size_t n);

#endif
