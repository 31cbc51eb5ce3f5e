/* Crash-safe checkpoint writing: sections are deflated in bounded blocks into
 * "<path>.tmp", the header and table (whose sizes are known only then) are
 * written last at offset 0, and the file is fsync'ed and renamed over <path>.
 * A reader therefore sees either the old complete file or the new one. */
#define ZLIB_CONST
#include "duet/ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "ckpt_format.h"

/* One write in progress: where the bytes go and what went wrong. */
typedef struct writer {
    const char *path; /* final name */
    char *tmp;        /* "<path>.tmp" */
    int fd;
    int64_t pos;      /* bytes written so far = offset of the next section */
    uint8_t *out;     /* deflate output, DUET_CKPT_BLOCK bytes */
    uint8_t *stage;   /* one shuffled block, DUET_CKPT_BLOCK bytes */
    duet_err *err;
} writer;

/* Error naming the checkpoint, the operation, the file it failed on and the
 * errno text. */
static int io_fail(writer *w, const char *op, const char *file, int errnum)
{
    return duet_errf(w->err, "cannot write checkpoint %s: %s %s: %s", w->path, op, file,
                     strerror(errnum));
}

/* Writes buf[0..n) at file offset off, resuming after partial writes. */
static int write_at(writer *w, const void *buf, size_t n, int64_t off)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t k = pwrite(w->fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) /* no progress without an errno: report it as a full disk */
            return io_fail(w, "write", w->tmp, k < 0 ? errno : ENOSPC);
        p += k;
        n -= (size_t)k;
        off += k;
    }
    return 0;
}

/* Appends buf[0..n) at w->pos. */
static int append(writer *w, const void *buf, size_t n)
{
    if (write_at(w, buf, n, w->pos) != 0)
        return -1;
    w->pos += (int64_t)n;
    return 0;
}

/* Element width of a section: 0 means opaque bytes. */
static size_t elem_of(const duet_ckpt_section *s)
{
    return s->elem_size ? s->elem_size : 1;
}

/* Deflates the section as one zlib stream, fed block by block (shuffled
 * first for typed sections) and drained through w->out. */
static int deflate_section(writer *w, const duet_ckpt_section *s, int level, unsigned method,
                           uLong *crc)
{
    const uint8_t *data = s->data;
    size_t elem = elem_of(s);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    /* Shuffled float lanes have no long matches (mantissa bytes are noise)
     * but runs (exponent bytes, zero rows): run-length matching finds those
     * at a fraction of the cost of a full LZ77 search. */
    int strategy = method == DUET_CKPT_SHUFFLED ? Z_RLE : Z_DEFAULT_STRATEGY;
    if (deflateInit2(&zs, level, Z_DEFLATED, 15, 8, strategy) != Z_OK)
        duet_fatal("deflateInit2(level %d) failed: out of memory", level);
    size_t done = 0;
    int flush, rc;
    do {
        size_t piece = DUET_MIN(s->size - done, DUET_CKPT_BLOCK);
        const uint8_t *in = piece > 0 ? data + done : Z_NULL;
        if (piece > 0)
            *crc = crc32_z(*crc, in, piece);
        if (piece > 0 && method == DUET_CKPT_SHUFFLED) {
            duet_ckpt_fmt_shuffle(in, w->stage, piece, elem);
            in = w->stage;
        }
        zs.next_in = in;
        zs.avail_in = (uInt)piece;
        done += piece;
        flush = done == s->size ? Z_FINISH : Z_NO_FLUSH;
        do { /* drain until deflate leaves room in the output buffer */
            zs.next_out = w->out;
            zs.avail_out = (uInt)DUET_CKPT_BLOCK;
            rc = deflate(&zs, flush);
            if (rc == Z_STREAM_ERROR)
                duet_fatal("deflate: inconsistent stream state");
            if (append(w, w->out, DUET_CKPT_BLOCK - zs.avail_out) != 0) {
                deflateEnd(&zs);
                return -1;
            }
        } while (zs.avail_out == 0);
    } while (flush != Z_FINISH);
    deflateEnd(&zs);
    if (rc != Z_STREAM_END)
        duet_fatal("deflate did not finish the stream (rc %d)", rc);
    return 0;
}

/* Writes one section at w->pos and fills its table entry. */
static int write_section(writer *w, const duet_ckpt_section *s, int level,
                         duet_ckpt_fmt_entry *e)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    e->offset = (uint64_t)w->pos;
    e->raw_size = s->size;
    e->elem_size = (uint16_t)elem_of(s);
    e->method = level == 0 ? DUET_CKPT_STORED
              : e->elem_size > 1 ? DUET_CKPT_SHUFFLED
                                 : DUET_CKPT_ZLIB;
    if (e->method != DUET_CKPT_STORED) {
        if (deflate_section(w, s, level, e->method, &crc) != 0)
            return -1;
    } else if (s->size > 0) {
        crc = crc32_z(crc, s->data, s->size);
        if (append(w, s->data, s->size) != 0)
            return -1;
    }
    e->crc32 = (uint32_t)crc;
    e->comp_size = (uint64_t)w->pos - e->offset;
    return 0;
}

/* fsync of the directory holding `path`, so the rename itself is durable.
 * EINVAL means the file system does not support it (nothing to wait for). */
static int sync_dir(writer *w)
{
    const char *slash = strrchr(w->path, '/');
    char *dir = slash ? duet_strdup(w->path) : duet_strdup(".");
    if (slash)
        dir[slash == w->path ? 1 : slash - w->path] = 0;
    int rc = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL))
        rc = duet_errf(w->err, "checkpoint %s was written, but %s directory %s failed: %s",
                       w->path, fd < 0 ? "opening" : "fsync of", dir, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(dir);
    return rc;
}

static int check_args(const char *path, const duet_ckpt_meta *meta,
                      const duet_ckpt_section *sections, size_t n, int level, duet_err *err)
{
    if (level < 0 || level > 9)
        return duet_errf(err, "cannot write checkpoint %s: compression level %d not in 0..9",
                         path, level);
    if (meta->step < 0)
        return duet_errf(err, "cannot write checkpoint %s: negative step %lld", path,
                         (long long)meta->step);
    if (strlen(meta->objective) >= DUET_CKPT_NAME_MAX)
        return duet_errf(err, "cannot write checkpoint %s: objective name '%s' longer than %d bytes",
                         path, meta->objective, DUET_CKPT_NAME_MAX - 1);
    if (n > DUET_CKPT_MAX_SECTIONS)
        return duet_errf(err, "cannot write checkpoint %s: %zu sections (max %u)", path, n,
                         DUET_CKPT_MAX_SECTIONS);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(sections[i].name);
        if (len == 0 || len >= DUET_CKPT_NAME_MAX)
            return duet_errf(err, "cannot write checkpoint %s: section name '%s' must have 1..%d bytes",
                             path, sections[i].name, DUET_CKPT_NAME_MAX - 1);
        size_t elem = elem_of(&sections[i]);
        if (elem != 1 && elem != 2 && elem != 4 && elem != 8)
            return duet_errf(err, "cannot write checkpoint %s: section '%s': element size %zu not in {0, 1, 2, 4, 8}",
                             path, sections[i].name, sections[i].elem_size);
        if (sections[i].size % elem != 0)
            return duet_errf(err, "cannot write checkpoint %s: section '%s': %zu bytes is not a whole number of %zu-byte elements",
                             path, sections[i].name, sections[i].size, elem);
        if (sections[i].size > 0 && !sections[i].data)
            return duet_errf(err, "cannot write checkpoint %s: section '%s' has no data", path,
                             sections[i].name);
        if ((uint64_t)sections[i].size > DUET_CKPT_MAX_RAW)
            return duet_errf(err, "cannot write checkpoint %s: section '%s' of %zu bytes exceeds the %llu-byte limit",
                             path, sections[i].name, sections[i].size,
                             (unsigned long long)DUET_CKPT_MAX_RAW);
        for (size_t j = 0; j < i; j++)
            if (strcmp(sections[i].name, sections[j].name) == 0)
                return duet_errf(err, "cannot write checkpoint %s: section '%s' given twice", path,
                                 sections[i].name);
    }
    return 0;
}

/* Everything between creating the temporary file and renaming it. */
static int write_file(writer *w, const duet_ckpt_meta *meta, const duet_ckpt_section *sections,
                      size_t n, int level)
{
    size_t table_end = DUET_CKPT_HEADER_SIZE + n * DUET_CKPT_ENTRY_SIZE;
    uint8_t *head = duet_calloc(table_end, 1);
    /* zeros stand in for the header until the section sizes are known */
    int rc = append(w, head, table_end);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        duet_ckpt_fmt_entry e;
        duet_ckpt_fmt_set_name(e.name, sections[i].name);
        rc = write_section(w, &sections[i], level, &e);
        duet_ckpt_fmt_put_entry(head + DUET_CKPT_HEADER_SIZE + i * DUET_CKPT_ENTRY_SIZE, &e);
        if (meta->debug_crash > 0 && (size_t)meta->debug_crash == i + 1)
            raise(SIGKILL);
    }
    if (rc == 0) {
        duet_ckpt_fmt_header h;
        memcpy(h.magic, DUET_CKPT_MAGIC, 8);
        h.version = DUET_CKPT_FORMAT_VERSION;
        h.flags = 0;
        h.step = (uint64_t)meta->step;
        h.file_size = (uint64_t)w->pos;
        h.nsections = (uint32_t)n;
        h.crc = 0;
        duet_ckpt_fmt_set_name(h.objective, meta->objective);
        duet_ckpt_fmt_put_header(head, &h);
        h.crc = duet_ckpt_fmt_table_crc(head, table_end);
        duet_ckpt_fmt_put_header(head, &h);
        rc = write_at(w, head, table_end, 0);
    }
    free(head);
    if (rc == 0 && fsync(w->fd) != 0)
        rc = io_fail(w, "fsync", w->tmp, errno);
    if (close(w->fd) != 0 && rc == 0) /* NFS reports deferred write errors here */
        rc = io_fail(w, "close", w->tmp, errno);
    return rc;
}

int duet_ckpt_write(const char *path, const duet_ckpt_meta *meta,
                    const duet_ckpt_section *sections, size_t nsections, int level,
                    duet_err *err)
{
    if (check_args(path, meta, sections, nsections, level, err) != 0)
        return -1;
    writer w = {.path = path, .err = err};
    size_t len = strlen(path) + sizeof ".tmp";
    w.tmp = duet_malloc(len);
    snprintf(w.tmp, len, "%s.tmp", path);

    /* Exceeding RLIMIT_FSIZE raises SIGXFSZ, whose default action kills the
     * process; ignored, write() fails with EFBIG and we clean up instead. */
    struct sigaction ign, old;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGXFSZ, &ign, &old);

    int rc = 0;
    w.fd = open(w.tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w.fd < 0) {
        rc = io_fail(&w, "create", w.tmp, errno);
    } else {
        w.out = duet_malloc(DUET_CKPT_BLOCK);
        w.stage = duet_malloc(DUET_CKPT_BLOCK);
        rc = write_file(&w, meta, sections, nsections, level);
        free(w.out);
        free(w.stage);
        if (rc == 0 && rename(w.tmp, path) != 0)
            rc = io_fail(&w, "rename", w.tmp, errno);
        if (rc != 0)
            unlink(w.tmp); /* best effort: the error already names the cause */
        else
            rc = sync_dir(&w);
    }
    sigaction(SIGXFSZ, &old, NULL);
    free(w.tmp);
    return rc;
}
