/* Little-endian encoding of the checkpoint header and section table. */
#include "ckpt_format.h"

#include <string.h>
#include <zlib.h>

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Header layout: see docs/formats.md. */
void duet_ckpt_fmt_put_header(uint8_t out[DUET_CKPT_HEADER_SIZE], const duet_ckpt_fmt_header *h)
{
    memcpy(out, h->magic, 8);
    put_u32(out + 8, h->version);
    put_u32(out + 12, h->flags);
    put_u64(out + 16, h->step);
    put_u64(out + 24, h->file_size);
    put_u32(out + 32, h->nsections);
    put_u32(out + DUET_CKPT_CRC_FIELD, h->crc);
    memcpy(out + 40, h->objective, DUET_CKPT_NAME_MAX);
}

void duet_ckpt_fmt_get_header(const uint8_t in[DUET_CKPT_HEADER_SIZE], duet_ckpt_fmt_header *h)
{
    memcpy(h->magic, in, 8);
    h->version = get_u32(in + 8);
    h->flags = get_u32(in + 12);
    h->step = get_u64(in + 16);
    h->file_size = get_u64(in + 24);
    h->nsections = get_u32(in + 32);
    h->crc = get_u32(in + DUET_CKPT_CRC_FIELD);
    memcpy(h->objective, in + 40, DUET_CKPT_NAME_MAX);
}

void duet_ckpt_fmt_put_entry(uint8_t out[DUET_CKPT_ENTRY_SIZE], const duet_ckpt_fmt_entry *e)
{
    memcpy(out, e->name, DUET_CKPT_NAME_MAX);
    put_u64(out + 32, e->offset);
    put_u64(out + 40, e->comp_size);
    put_u64(out + 48, e->raw_size);
    put_u32(out + 56, e->crc32);
    put_u16(out + 60, e->method);
    put_u16(out + 62, e->elem_size);
}

void duet_ckpt_fmt_get_entry(const uint8_t in[DUET_CKPT_ENTRY_SIZE], duet_ckpt_fmt_entry *e)
{
    memcpy(e->name, in, DUET_CKPT_NAME_MAX);
    e->offset = get_u64(in + 32);
    e->comp_size = get_u64(in + 40);
    e->raw_size = get_u64(in + 48);
    e->crc32 = get_u32(in + 56);
    e->method = get_u16(in + 60);
    e->elem_size = get_u16(in + 62);
}

uint32_t duet_ckpt_fmt_table_crc(const uint8_t *buf, size_t len)
{
    static const uint8_t zero[4];
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32_z(crc, buf, DUET_CKPT_CRC_FIELD);
    crc = crc32_z(crc, zero, sizeof zero);
    crc = crc32_z(crc, buf + DUET_CKPT_CRC_FIELD + 4, len - DUET_CKPT_CRC_FIELD - 4);
    return (uint32_t)crc;
}

void duet_ckpt_fmt_shuffle(const uint8_t *in, uint8_t *out, size_t n, size_t elem)
{
    size_t count = n / elem;
    for (size_t i = 0; i < count; i++)
        for (size_t k = 0; k < elem; k++)
            out[k * count + i] = in[i * elem + k];
}

void duet_ckpt_fmt_unshuffle(const uint8_t *in, uint8_t *out, size_t n, size_t elem)
{
    size_t count = n / elem;
    for (size_t i = 0; i < count; i++)
        for (size_t k = 0; k < elem; k++)
            out[i * elem + k] = in[k * count + i];
}

int duet_ckpt_fmt_set_name(uint8_t field[DUET_CKPT_NAME_MAX], const char *name)
{
    size_t n = strlen(name);
    if (n >= DUET_CKPT_NAME_MAX)
        return -1;
    memset(field, 0, DUET_CKPT_NAME_MAX);
    memcpy(field, name, n);
    return 0;
}

int duet_ckpt_fmt_name_ok(const uint8_t field[DUET_CKPT_NAME_MAX])
{
    const uint8_t *nul = memchr(field, 0, DUET_CKPT_NAME_MAX);
    if (!nul)
        return -1;
    for (const uint8_t *p = nul; p < field + DUET_CKPT_NAME_MAX; p++)
        if (*p)
            return -1;
    return 0;
}
