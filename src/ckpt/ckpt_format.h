/* Private to src/ckpt: the on-disk layout of a checkpoint (docs/formats.md,
 * "Checkpoint file") and its little-endian encoding, shared by the writer and
 * the reader. Fields are encoded one by one, never by struct dumps. */
#ifndef DUET_CKPT_FORMAT_H
#define DUET_CKPT_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "duet/ckpt.h"

#define DUET_CKPT_MAGIC "DUETCKPT" /* 8 bytes, no NUL in the file */
#define DUET_CKPT_HEADER_SIZE 72u
#define DUET_CKPT_ENTRY_SIZE 64u
/* Byte offset of the header CRC field (taken as zero while computing it). */
#define DUET_CKPT_CRC_FIELD 36u
/* Deflate cannot expand data by more than 1032:1 (a 258-byte match in about
 * 2 bits), so a zlib section claiming more is corrupt. */
#define DUET_CKPT_MAX_RATIO 1032u
/* Sanity bound on one section's raw size (1 TiB). */
#define DUET_CKPT_MAX_RAW ((uint64_t)1 << 40)

/* Header fields as stored (unvalidated). */
typedef struct duet_ckpt_fmt_header {
    uint8_t magic[8];
    uint32_t version, flags;
    uint64_t step; /* int64 >= 0 in a valid file */
    uint64_t file_size;
    uint32_t nsections;
    uint32_t crc; /* crc32 of header (this field as zero) + section table */
    uint8_t objective[DUET_CKPT_NAME_MAX];
} duet_ckpt_fmt_header;

/* Section-table entry as stored (unvalidated). */
typedef struct duet_ckpt_fmt_entry {
    uint8_t name[DUET_CKPT_NAME_MAX];
    uint64_t offset, comp_size, raw_size;
    uint32_t crc32;
    uint16_t method, elem_size;
} duet_ckpt_fmt_entry;

void duet_ckpt_fmt_put_header(uint8_t out[DUET_CKPT_HEADER_SIZE], const duet_ckpt_fmt_header *h);
void duet_ckpt_fmt_get_header(const uint8_t in[DUET_CKPT_HEADER_SIZE], duet_ckpt_fmt_header *h);
void duet_ckpt_fmt_put_entry(uint8_t out[DUET_CKPT_ENTRY_SIZE], const duet_ckpt_fmt_entry *e);
void duet_ckpt_fmt_get_entry(const uint8_t in[DUET_CKPT_ENTRY_SIZE], duet_ckpt_fmt_entry *e);

/* CRC of buf[0..len) = header followed by the table, with the 4 bytes of the
 * CRC field counted as zeros. len >= DUET_CKPT_HEADER_SIZE. */
uint32_t duet_ckpt_fmt_table_crc(const uint8_t *buf, size_t len);

/* Byte shuffle of n bytes (a multiple of elem) of elem-byte numbers: byte k
 * of element i goes to out[k * (n / elem) + i]. unshuffle inverts it. */
void duet_ckpt_fmt_shuffle(const uint8_t *in, uint8_t *out, size_t n, size_t elem);
void duet_ckpt_fmt_unshuffle(const uint8_t *in, uint8_t *out, size_t n, size_t elem);

/* Copies a name of at most DUET_CKPT_NAME_MAX-1 bytes into a NUL-padded
 * field; -1 if it is too long. */
int duet_ckpt_fmt_set_name(uint8_t field[DUET_CKPT_NAME_MAX], const char *name);
/* 0 if a stored name field is NUL-terminated with zero padding after the
 * terminator (so a file has one encoding per name), else -1. */
int duet_ckpt_fmt_name_ok(const uint8_t field[DUET_CKPT_NAME_MAX]);

#endif
