/* Checkpoint reading. open() validates the header and the whole table before
 * anything else is trusted; reading a section decompresses with both ends
 * bounded by the table (input exactly comp_size, output exactly raw_size),
 * so a corrupt or hostile file can neither overrun a buffer nor make us
 * allocate or inflate more than the caller asked for. */
#define ZLIB_CONST
#include "duet/ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "ckpt_format.h"

struct duet_ckpt {
    int fd;
    char *path;
    int64_t step;
    char objective[DUET_CKPT_NAME_MAX];
    size_t nsections;
    duet_ckpt_entry *sections;
};

/* Reads exactly n bytes at off; a short read means the file shrank after
 * open (or an I/O error). */
static int read_at(const duet_ckpt *h, void *buf, size_t n, int64_t off, duet_err *err)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t k = pread(h->fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return duet_errf(err, "%s: read at offset %lld: %s", h->path, (long long)off,
                             strerror(errno));
        if (k == 0)
            return duet_errf(err, "%s: unexpected end of file at offset %lld (truncated while open?)",
                             h->path, (long long)off);
        p += k;
        n -= (size_t)k;
        off += k;
    }
    return 0;
}

/* Header checks that do not need the table. */
static int check_header(const char *path, const duet_ckpt_fmt_header *hd, int64_t size,
                        duet_err *err)
{
    if (hd->version == 0)
        return duet_errf(err, "%s: corrupt header: format version 0", path);
    if (hd->version > DUET_CKPT_FORMAT_VERSION)
        return duet_errf(err, "%s: written by a newer duet (checkpoint format version %u, this build reads up to %u)",
                         path, hd->version, DUET_CKPT_FORMAT_VERSION);
    if (hd->nsections > DUET_CKPT_MAX_SECTIONS)
        return duet_errf(err, "%s: corrupt header: %u sections (max %u)", path, hd->nsections,
                         DUET_CKPT_MAX_SECTIONS);
    uint64_t table_end = DUET_CKPT_HEADER_SIZE + (uint64_t)hd->nsections * DUET_CKPT_ENTRY_SIZE;
    if ((uint64_t)size < table_end)
        return duet_errf(err, "%s: truncated: file has %lld bytes, header declares %llu and its %u-entry section table ends at byte %llu",
                         path, (long long)size, (unsigned long long)hd->file_size, hd->nsections,
                         (unsigned long long)table_end);
    return 0;
}

/* Header checks that are only meaningful once the CRC has matched. */
static int check_header_fields(const char *path, const duet_ckpt_fmt_header *hd, int64_t size,
                               duet_err *err)
{
    if (hd->file_size > (uint64_t)size)
        return duet_errf(err, "%s: truncated: file has %lld bytes, header declares %llu",
                         path, (long long)size, (unsigned long long)hd->file_size);
    if (hd->file_size < (uint64_t)size)
        return duet_errf(err, "%s: file has %lld bytes, header declares %llu (trailing data)",
                         path, (long long)size, (unsigned long long)hd->file_size);
    if (hd->flags != 0)
        return duet_errf(err, "%s: unknown header flags 0x%x (written by a newer duet?)", path,
                         hd->flags);
    if (hd->step > (uint64_t)INT64_MAX)
        return duet_errf(err, "%s: corrupt header: step out of range", path);
    if (duet_ckpt_fmt_name_ok(hd->objective) != 0)
        return duet_errf(err, "%s: corrupt header: objective name is not a NUL-padded string",
                         path);
    return 0;
}

/* Validates entry i (stored form) and converts it. Sections must tile the
 * file after the table, in table order: *next is where entry i must start. */
static int check_entry(const duet_ckpt *h, size_t i, const duet_ckpt_fmt_entry *fe,
                       uint64_t file_size, uint64_t *next, duet_err *err)
{
    const char *path = h->path;
    if (duet_ckpt_fmt_name_ok(fe->name) != 0 || fe->name[0] == 0)
        return duet_errf(err, "%s: corrupt section table: entry %zu has no valid name", path, i);
    const char *name = (const char *)fe->name;
    for (size_t j = 0; j < i; j++)
        if (strcmp(h->sections[j].name, name) == 0)
            return duet_errf(err, "%s: corrupt section table: section '%s' appears twice", path,
                             name);
    if (fe->method > DUET_CKPT_SHUFFLED)
        return duet_errf(err, "%s: section '%s': unknown compression method %u", path, name,
                         fe->method);
    if ((fe->elem_size != 1 && fe->elem_size != 2 && fe->elem_size != 4 && fe->elem_size != 8) ||
        fe->raw_size % fe->elem_size != 0 ||
        (fe->method == DUET_CKPT_SHUFFLED && fe->elem_size == 1))
        return duet_errf(err, "%s: section '%s': invalid element size %u for %llu bytes (method %u)",
                         path, name, fe->elem_size, (unsigned long long)fe->raw_size, fe->method);
    if (fe->offset != *next)
        return duet_errf(err, "%s: corrupt section table: section '%s' starts at byte %llu, expected %llu",
                         path, name, (unsigned long long)fe->offset, (unsigned long long)*next);
    if (fe->comp_size > file_size - fe->offset)
        return duet_errf(err, "%s: section '%s' (%llu bytes at byte %llu) extends past the end of the file (%llu bytes)",
                         path, name, (unsigned long long)fe->comp_size,
                         (unsigned long long)fe->offset, (unsigned long long)file_size);
    uint64_t max_raw = fe->method == DUET_CKPT_STORED ? fe->comp_size
                     : fe->comp_size > DUET_CKPT_MAX_RAW / DUET_CKPT_MAX_RATIO
                         ? DUET_CKPT_MAX_RAW
                         : fe->comp_size * DUET_CKPT_MAX_RATIO;
    if (fe->raw_size > max_raw || fe->raw_size > SIZE_MAX ||
        (fe->method == DUET_CKPT_STORED && fe->raw_size != fe->comp_size))
        return duet_errf(err, "%s: section '%s' declares %llu raw bytes from %llu stored bytes: impossible (corrupt section table)",
                         path, name, (unsigned long long)fe->raw_size,
                         (unsigned long long)fe->comp_size);
    duet_ckpt_entry *e = &h->sections[i];
    memcpy(e->name, fe->name, DUET_CKPT_NAME_MAX);
    e->offset = (int64_t)fe->offset;
    e->comp_size = (int64_t)fe->comp_size;
    e->raw_size = (size_t)fe->raw_size;
    e->crc32 = fe->crc32;
    e->method = fe->method;
    e->elem_size = fe->elem_size;
    *next = fe->offset + fe->comp_size;
    return 0;
}

/* Reads and validates header and table into h (fd and path already set). */
static int load_table(duet_ckpt *h, duet_err *err)
{
    const char *path = h->path;
    struct stat st;
    if (fstat(h->fd, &st) != 0)
        return duet_errf(err, "%s: stat: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return duet_errf(err, "%s: not a regular file", path);
    int64_t size = (int64_t)st.st_size;

    uint8_t head[DUET_CKPT_HEADER_SIZE];
    size_t got = (size_t)DUET_MIN(size, (int64_t)sizeof head);
    if (read_at(h, head, got, 0, err) != 0)
        return -1;
    if (got < 8 || memcmp(head, DUET_CKPT_MAGIC, 8) != 0)
        return duet_errf(err, "%s: not a duet checkpoint (no DUETCKPT magic at the start)", path);
    if (got < sizeof head)
        return duet_errf(err, "%s: truncated: file has %lld bytes, less than the %u-byte header",
                         path, (long long)size, DUET_CKPT_HEADER_SIZE);
    duet_ckpt_fmt_header hd;
    duet_ckpt_fmt_get_header(head, &hd);
    if (check_header(path, &hd, size, err) != 0)
        return -1;

    size_t table_end = DUET_CKPT_HEADER_SIZE + (size_t)hd.nsections * DUET_CKPT_ENTRY_SIZE;
    uint8_t *buf = duet_malloc(table_end);
    memcpy(buf, head, sizeof head);
    int rc = read_at(h, buf + sizeof head, table_end - sizeof head, sizeof head, err);
    if (rc == 0) {
        uint32_t crc = duet_ckpt_fmt_table_crc(buf, table_end);
        if (crc != hd.crc)
            rc = duet_errf(err, "%s: header CRC mismatch (stored 0x%08x, computed 0x%08x): corrupt header or section table",
                           path, hd.crc, crc);
    }
    if (rc == 0)
        rc = check_header_fields(path, &hd, size, err);
    if (rc == 0) {
        h->step = (int64_t)hd.step;
        memcpy(h->objective, hd.objective, DUET_CKPT_NAME_MAX);
        h->nsections = hd.nsections;
        h->sections = duet_calloc(hd.nsections, sizeof *h->sections);
        uint64_t next = table_end;
        for (size_t i = 0; rc == 0 && i < hd.nsections; i++) {
            duet_ckpt_fmt_entry fe;
            duet_ckpt_fmt_get_entry(buf + DUET_CKPT_HEADER_SIZE + i * DUET_CKPT_ENTRY_SIZE, &fe);
            rc = check_entry(h, i, &fe, hd.file_size, &next, err);
        }
        if (rc == 0 && next != hd.file_size)
            rc = duet_errf(err, "%s: corrupt section table: sections end at byte %llu, file has %llu",
                           path, (unsigned long long)next, (unsigned long long)hd.file_size);
    }
    free(buf);
    return rc;
}

duet_ckpt *duet_ckpt_open(const char *path, duet_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        duet_errf(err, "cannot open checkpoint %s: %s", path, strerror(errno));
        return NULL;
    }
    duet_ckpt *h = duet_calloc(1, sizeof *h);
    h->fd = fd;
    h->path = duet_strdup(path);
    if (load_table(h, err) != 0) {
        duet_ckpt_close(h);
        return NULL;
    }
    return h;
}

void duet_ckpt_close(duet_ckpt *h)
{
    if (!h)
        return;
    close(h->fd);
    free(h->sections);
    free(h->path);
    free(h);
}

const char *duet_ckpt_file(const duet_ckpt *h) { return h->path; }
int64_t duet_ckpt_step(const duet_ckpt *h) { return h->step; }
const char *duet_ckpt_objective(const duet_ckpt *h) { return h->objective; }
size_t duet_ckpt_nsections(const duet_ckpt *h) { return h->nsections; }

const duet_ckpt_entry *duet_ckpt_entry_at(const duet_ckpt *h, size_t i)
{
    return i < h->nsections ? &h->sections[i] : NULL;
}

const duet_ckpt_entry *duet_ckpt_find(const duet_ckpt *h, const char *name)
{
    for (size_t i = 0; i < h->nsections; i++)
        if (strcmp(h->sections[i].name, name) == 0)
            return &h->sections[i];
    return NULL;
}

int duet_ckpt_expect_objective(const duet_ckpt *h, const char *objective, duet_err *err)
{
    if (strcmp(h->objective, objective) != 0)
        return duet_errf(err, "%s: checkpoint was written for objective '%s', expected '%s'",
                         h->path, h->objective, objective);
    return 0;
}

/* Where decoded bytes go. The section is produced in blocks of
 * DUET_CKPT_BLOCK raw bytes, filled in place in dst or, when they must be
 * staged (shuffled sections; verification without a destination), in
 * `stage`. A completed block is unshuffled (into dst, or into `plain` when
 * only verifying) and checksummed, so verifying a section of any size needs
 * two blocks of memory. */
typedef struct sink {
    uint8_t *dst;          /* the whole section, or NULL to verify only */
    uint8_t *stage, *plain;
    size_t elem;           /* > 1: blocks arrive shuffled in lanes of elem */
    size_t raw_size, done; /* done: bytes of completed blocks */
    size_t fill;           /* bytes of the current block */
    uLong crc;
} sink;

static size_t block_len(const sink *s)
{
    return DUET_MIN(s->raw_size - s->done, DUET_CKPT_BLOCK);
}

/* Free space of the current block (never past the declared raw size). */
static uint8_t *sink_span(const sink *s, size_t *len)
{
    *len = block_len(s) - s->fill;
    return (s->stage ? s->stage : s->dst + s->done) + s->fill;
}

/* n bytes were written to the span; completes the block when it is full. */
static void sink_took(sink *s, size_t n)
{
    s->fill += n;
    size_t len = block_len(s);
    if (s->fill < len)
        return;
    const uint8_t *raw = s->stage ? s->stage : s->dst + s->done;
    if (s->elem > 1) {
        uint8_t *out = s->dst ? s->dst + s->done : s->plain;
        duet_ckpt_fmt_unshuffle(s->stage, out, len, s->elem);
        raw = out;
    }
    s->crc = crc32_z(s->crc, raw, len);
    s->done += len;
    s->fill = 0;
}

static int read_stored(const duet_ckpt *h, const duet_ckpt_entry *e, sink *s, duet_err *err)
{
    while (s->done < s->raw_size) {
        size_t n;
        uint8_t *span = sink_span(s, &n);
        if (read_at(h, span, n, e->offset + (int64_t)s->done, err) != 0)
            return -1;
        sink_took(s, n);
    }
    return 0;
}

/* Inflates exactly comp_size input bytes into exactly raw_size output bytes.
 * Once raw_size bytes are out, inflate gets a 1-byte spare buffer: the
 * stream must then end without producing anything more. Z_BUF_ERROR with
 * input left would mean no progress (zlib never does that): it counts as
 * corruption so the loop cannot spin. */
static int read_zlib(const duet_ckpt *h, const duet_ckpt_entry *e, sink *s, duet_err *err)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK)
        duet_fatal("inflateInit failed: out of memory");
    size_t consumed = 0, comp = (size_t)e->comp_size;
    uint8_t *in = duet_malloc(DUET_MIN(comp, DUET_CKPT_BLOCK));
    int zrc = Z_OK, rc = 0;
    while (rc == 0 && zrc != Z_STREAM_END) {
        if (zs.avail_in == 0) {
            if (consumed == comp) {
                rc = duet_errf(err, "%s: section '%s': compressed data ends after %zu of %zu raw bytes (corrupt)",
                               h->path, e->name, s->done + s->fill, s->raw_size);
                break;
            }
            size_t n = DUET_MIN(comp - consumed, DUET_CKPT_BLOCK);
            if (read_at(h, in, n, e->offset + (int64_t)consumed, err) != 0) {
                rc = -1;
                break;
            }
            consumed += n;
            zs.next_in = in;
            zs.avail_in = (uInt)n;
        }
        uint8_t spare, *span;
        size_t n;
        if (s->done < s->raw_size) {
            span = sink_span(s, &n);
        } else {
            span = &spare;
            n = 1;
        }
        zs.next_out = span;
        zs.avail_out = (uInt)n;
        zrc = inflate(&zs, Z_NO_FLUSH);
        size_t out = n - zs.avail_out;
        if (span == &spare && out > 0)
            rc = duet_errf(err, "%s: section '%s': decompresses to more than the declared %zu bytes (corrupt)",
                           h->path, e->name, s->raw_size);
        else if (zrc != Z_OK && zrc != Z_STREAM_END && (zrc != Z_BUF_ERROR || zs.avail_in > 0))
            rc = duet_errf(err, "%s: section '%s': corrupt compressed data (zlib: %s)", h->path,
                           e->name, zs.msg ? zs.msg : zError(zrc));
        else if (span != &spare)
            sink_took(s, out);
    }
    if (rc == 0 && (zs.avail_in != 0 || consumed != comp))
        rc = duet_errf(err, "%s: section '%s': %zu stored bytes follow the end of the compressed stream (corrupt)",
                       h->path, e->name, comp - consumed + zs.avail_in);
    if (rc == 0 && s->done != s->raw_size)
        rc = duet_errf(err, "%s: section '%s': decompressed to %zu bytes, table declares %zu (corrupt)",
                       h->path, e->name, s->done + s->fill, s->raw_size);
    inflateEnd(&zs);
    free(in);
    return rc;
}

/* Decodes one section into dst (or only checks it when dst is NULL) and
 * verifies its CRC. */
static int decode(const duet_ckpt *h, const duet_ckpt_entry *e, uint8_t *dst, duet_err *err)
{
    sink s = {.dst = dst, .elem = e->method == DUET_CKPT_SHUFFLED ? e->elem_size : 1,
              .raw_size = e->raw_size, .crc = crc32(0L, Z_NULL, 0)};
    /* Buffers of one block, or of the section when it is smaller (most
     * sections are: config, tokenizer, state). */
    size_t block = DUET_MIN(e->raw_size, DUET_CKPT_BLOCK);
    if (s.elem > 1 || !dst)
        s.stage = duet_malloc(block);
    if (s.elem > 1 && !dst)
        s.plain = duet_malloc(block);
    int rc = e->method == DUET_CKPT_STORED ? read_stored(h, e, &s, err) : read_zlib(h, e, &s, err);
    free(s.stage);
    free(s.plain);
    if (rc == 0 && (uint32_t)s.crc != e->crc32)
        rc = duet_errf(err, "%s: section '%s': CRC mismatch (stored 0x%08x, computed 0x%08x): corrupt data",
                       h->path, e->name, e->crc32, (uint32_t)s.crc);
    return rc;
}

/* The entry `name`, or an error listing the sections the file has. */
static const duet_ckpt_entry *need(const duet_ckpt *h, const char *name, duet_err *err)
{
    const duet_ckpt_entry *e = duet_ckpt_find(h, name);
    if (e)
        return e;
    char list[512] = "";
    size_t len = 0;
    for (size_t i = 0; i < h->nsections && len < sizeof list; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "",
                                h->sections[i].name);
    duet_errf(err, "%s: no section '%s' (the file has: %s)", h->path, name,
              h->nsections ? list : "no sections");
    return NULL;
}

int duet_ckpt_read(const duet_ckpt *h, const char *name, void *dst, size_t expected_bytes,
                   duet_err *err)
{
    const duet_ckpt_entry *e = need(h, name, err);
    if (!e)
        return -1;
    if (e->raw_size != expected_bytes)
        return duet_errf(err, "%s: section '%s' holds %zu bytes, expected %zu (does the config match the checkpoint?)",
                         h->path, name, e->raw_size, expected_bytes);
    if (!dst && expected_bytes > 0)
        duet_fatal("duet_ckpt_read(%s): NULL destination for %zu bytes", name, expected_bytes);
    return decode(h, e, dst, err);
}

int duet_ckpt_read_alloc(const duet_ckpt *h, const char *name, size_t max_bytes, void **out,
                         size_t *out_size, duet_err *err)
{
    const duet_ckpt_entry *e = need(h, name, err);
    if (!e)
        return -1;
    if (e->raw_size > max_bytes)
        return duet_errf(err, "%s: section '%s' holds %zu bytes, more than the %zu accepted",
                         h->path, name, e->raw_size, max_bytes);
    uint8_t *buf = duet_malloc(e->raw_size + 1);
    if (decode(h, e, buf, err) != 0) {
        free(buf);
        return -1;
    }
    buf[e->raw_size] = 0;
    *out = buf;
    *out_size = e->raw_size;
    return 0;
}

int duet_ckpt_check(const duet_ckpt *h, duet_err *err)
{
    for (size_t i = 0; i < h->nsections; i++)
        if (decode(h, &h->sections[i], NULL, err) != 0)
            return -1;
    return 0;
}

int duet_ckpt_verify(const char *path, duet_err *err)
{
    duet_ckpt *h = duet_ckpt_open(path, err);
    if (!h)
        return -1;
    int rc = duet_ckpt_check(h, err);
    duet_ckpt_close(h);
    return rc;
}
