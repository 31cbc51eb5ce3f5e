/* duet/ckpt.h — checkpoint files: named, zlib-compressed byte sections.
 *
 * Owns the checkpoint file format (docs/formats.md, "Checkpoint file"), the
 * crash-safe write (temporary file, fsync, rename, directory fsync), the
 * bounded and fully validated read, and the run-directory conventions
 * (canonical names, newest valid checkpoint, pruning). It knows nothing of
 * MPI or models: the trainer decides what the sections hold ("config",
 * "tokenizer", "params", "adam_m", "adam_v", "ema", "objective",
 * "train_state") and rank 0 writes while every rank reads.
 *
 * Every error message names the file.
 */
#ifndef DUET_CKPT_H
#define DUET_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "duet/util.h"

#define DUET_CKPT_FORMAT_VERSION 1u
/* Longest section / objective name is DUET_CKPT_NAME_MAX - 1 bytes. */
#define DUET_CKPT_NAME_MAX 32
#define DUET_CKPT_MAX_SECTIONS 1024u
/* Default zlib level: Z_BEST_SPEED (checkpointing must stay a small fraction
 * of training time; see bench/RESULTS.md "Checkpoints"). Level 0 stores the
 * bytes uncompressed. */
#define DUET_CKPT_LEVEL_DEFAULT 1
/* Sections stream through zlib in blocks of this many raw bytes (far below
 * zlib's uInt limit, so sections of any size use bounded buffers); typed
 * sections are byte-shuffled block by block. Part of the file format. */
#define DUET_CKPT_BLOCK ((size_t)4 << 20)

/* ---- writing ------------------------------------------------------------ */

typedef struct duet_ckpt_section {
    const char *name;  /* 1..DUET_CKPT_NAME_MAX-1 bytes, unique in a file */
    const void *data;  /* may be NULL when size == 0 */
    size_t size;
    /* 0 or 1: opaque bytes (text, tokenizer, packed state), compressed with
     * the given zlib level. 2, 4 or 8: an array of numbers of that width
     * (size a multiple of it; 4 for float slabs): at level >= 1 the bytes are
     * transposed into lanes (all first bytes, all second bytes, ...) per
     * block and run-length coded, which for float32 parameters compresses
     * better and 2-3x faster than plain zlib (bench/RESULTS.md). */
    size_t elem_size;
} duet_ckpt_section;

typedef struct duet_ckpt_meta {
    int64_t step;          /* >= 0 */
    const char *objective; /* e.g. "mdlm"; 0..DUET_CKPT_NAME_MAX-1 bytes */
    int debug_crash;       /* tests only: if > 0, SIGKILL the writer after this many
                              sections are in the temporary file (a crash mid-write) */
} duet_ckpt_meta;

/* Writes a checkpoint to `path` atomically: the bytes go to "<path>.tmp" in
 * the same directory, which is fsync'ed and renamed over `path`, then the
 * directory is fsync'ed. level: 0 (stored) .. 9 (zlib). On any failure the
 * temporary file is removed, an existing file at `path` is left untouched and
 * the message names the file and the errno text (only if the final fsync of
 * the directory fails is the new, complete file already in place when -1 is
 * returned: its rename may not survive a power loss). While it runs, SIGXFSZ is
 * ignored (previous disposition restored on return) so that exceeding
 * RLIMIT_FSIZE fails the write with EFBIG instead of killing the process.
 * Returns 0 or -1. */
int duet_ckpt_write(const char *path, const duet_ckpt_meta *meta,
                    const duet_ckpt_section *sections, size_t nsections, int level,
                    duet_err *err);

/* ---- reading ------------------------------------------------------------ */

typedef struct duet_ckpt duet_ckpt; /* an open checkpoint (opaque) */

typedef struct duet_ckpt_entry {
    char name[DUET_CKPT_NAME_MAX]; /* NUL-terminated */
    int64_t offset;                /* of the stored bytes in the file */
    int64_t comp_size;             /* stored bytes */
    size_t raw_size;               /* bytes after decompression */
    uint32_t crc32;                /* zlib crc32 of the raw bytes */
    unsigned method;               /* DUET_CKPT_STORED / _ZLIB / _SHUFFLED */
    size_t elem_size;              /* 1 (bytes), 2, 4 or 8 */
} duet_ckpt_entry;

enum {
    DUET_CKPT_STORED = 0,   /* raw bytes */
    DUET_CKPT_ZLIB = 1,     /* one zlib stream of the raw bytes */
    DUET_CKPT_SHUFFLED = 2, /* one zlib stream of the byte-shuffled blocks */
};

/* Opens and validates the header and section table (magic, version, CRC,
 * file size, names, offsets, sizes); section data is checked when read.
 * Returns NULL with a message on error. */
duet_ckpt *duet_ckpt_open(const char *path, duet_err *err);
void duet_ckpt_close(duet_ckpt *h); /* NULL is allowed */

const char *duet_ckpt_file(const duet_ckpt *h); /* the path given to open */
int64_t duet_ckpt_step(const duet_ckpt *h);
const char *duet_ckpt_objective(const duet_ckpt *h);
size_t duet_ckpt_nsections(const duet_ckpt *h);
/* i-th entry of the table, i < duet_ckpt_nsections(h). */
const duet_ckpt_entry *duet_ckpt_entry_at(const duet_ckpt *h, size_t i);
/* The entry named `name`, or NULL if the file has no such section. */
const duet_ckpt_entry *duet_ckpt_find(const duet_ckpt *h, const char *name);

/* Fails, naming both objectives, unless the checkpoint was written for
 * `objective`. */
int duet_ckpt_expect_objective(const duet_ckpt *h, const char *objective, duet_err *err);

/* Reads section `name` into dst[expected_bytes]. The section must exist and
 * hold exactly expected_bytes raw bytes (else the message names the section
 * and both sizes, before anything is decompressed); decompression consumes
 * exactly the stored bytes, produces exactly the raw bytes and must match the
 * CRC. On error dst holds unspecified bytes. Returns 0 or -1. */
int duet_ckpt_read(const duet_ckpt *h, const char *name, void *dst, size_t expected_bytes,
                   duet_err *err);

/* Reads a variable-size section (config text, tokenizer) into a new buffer
 * of raw_size + 1 bytes, NUL-terminated for text; *out_size = raw_size.
 * Sections larger than max_bytes are refused before any allocation.
 * The caller frees *out. Returns 0 or -1. */
int duet_ckpt_read_alloc(const duet_ckpt *h, const char *name, size_t max_bytes, void **out,
                         size_t *out_size, duet_err *err);

/* Decompresses every section through a bounded window (memory does not grow
 * with the section size) and checks its CRC. Returns 0 or -1. */
int duet_ckpt_check(const duet_ckpt *h, duet_err *err);

/* duet_ckpt_open + duet_ckpt_check + duet_ckpt_close. Returns 0 or -1. */
int duet_ckpt_verify(const char *path, duet_err *err);

/* ---- run directories ---------------------------------------------------- */

/* "<dir>/ckpt_<step as 10 digits>.duet" into buf[cap]; -1 if step < 0 or
 * the path does not fit. */
int duet_ckpt_path(const char *dir, int64_t step, char *buf, size_t cap);

/* Receives one line per file skipped or deleted (with the reason), so the
 * trainer can log it. May be NULL. */
typedef void (*duet_ckpt_note_fn)(void *ctx, const char *msg);

/* Finds the newest checkpoint in `dir` that fully verifies (and whose header
 * step equals the step in its name), scanning newest first. Invalid files and
 * "*.tmp" leftovers are reported through `note` and skipped; other files are
 * ignored. Returns 0 with out_path/step filled, 1 if there is no valid
 * checkpoint (also when dir does not exist), -1 on error (dir unreadable,
 * out_path too small). */
int duet_ckpt_find_latest(const char *dir, char *out_path, size_t cap, int64_t *step,
                          duet_ckpt_note_fn note, void *ctx, duet_err *err);

/* Keeps the newest `keep` (>= 1) checkpoints of `dir` that fully verify and
 * deletes the older checkpoint files: valid ones beyond those `keep`, and
 * invalid ones older than the newest valid checkpoint (invalid files newer
 * than it are kept, and reported, for inspection). Also deletes checkpoint
 * "*.tmp" leftovers. Never deletes the newest valid checkpoint. Only the
 * single writer of a run directory may call it (elsewhere a .tmp may be a
 * write in progress). Returns the number of files deleted, or -1. */
int duet_ckpt_prune(const char *dir, int keep, duet_ckpt_note_fn note, void *ctx,
                    duet_err *err);

#endif
