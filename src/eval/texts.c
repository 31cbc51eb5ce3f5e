/* Sample and reference texts: an arena list, and the line / JSONL readers.
 * Files go through zlib's gzread, which also reads uncompressed files. */
#include "duet/eval.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "duet/json.h"

void duet_texts_init(duet_texts *t)
{
    memset(t, 0, sizeof *t);
}

void duet_texts_free(duet_texts *t)
{
    free(t->buf);
    free(t->off);
    free(t->source);
    memset(t, 0, sizeof *t);
}

void duet_texts_push(duet_texts *t, const char *s, size_t n)
{
    if (t->n + 2 > t->off_cap) {
        t->off_cap = t->off_cap ? 2 * t->off_cap : 256;
        t->off = duet_realloc(t->off, t->off_cap * sizeof *t->off);
        if (t->n == 0)
            t->off[0] = 0;
    }
    size_t used = t->off[t->n];
    if (used + n + 1 > t->buf_cap) {
        while (used + n + 1 > t->buf_cap)
            t->buf_cap = t->buf_cap ? 2 * t->buf_cap : 1 << 16;
        t->buf = duet_realloc(t->buf, t->buf_cap);
    }
    if (n)
        memcpy(t->buf + used, s, n);
    t->buf[used + n] = '\0';
    t->n++;
    t->off[t->n] = used + n + 1;
}

const char *duet_texts_get(const duet_texts *t, size_t i, size_t *len)
{
    *len = t->off[i + 1] - t->off[i] - 1;
    return t->buf + t->off[i];
}

/* ------------------------------------------------------------ line reader */

typedef struct line_reader {
    gzFile gz;
    const char *path;
    char *buf;
    size_t cap, beg, end; /* unread bytes are buf[beg..end) */
    int eof;
    size_t lineno;        /* of the line last returned */
} line_reader;

static int reader_open(line_reader *r, const char *path, duet_err *err)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    errno = 0;
    r->gz = gzopen(path, "rb");
    if (!r->gz)
        return duet_errf(err, "%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
    r->cap = 1 << 16;
    r->buf = duet_malloc(r->cap);
    return 0;
}

static void reader_close(line_reader *r)
{
    if (r->gz)
        gzclose(r->gz);
    free(r->buf);
}

/* Next line without its '\n' (and a '\r' before it): 1, or 0 at the end of
 * the file, or -1 on a read error. Lines may be of any length. */
static int reader_next(line_reader *r, const char **line, size_t *len, duet_err *err)
{
    size_t scanned = r->beg;
    for (;;) {
        char *nl = memchr(r->buf + scanned, '\n', r->end - scanned);
        if (nl || (r->eof && r->end > r->beg)) {
            size_t stop = nl ? (size_t)(nl - r->buf) : r->end;
            *line = r->buf + r->beg;
            *len = stop - r->beg;
            if (*len > 0 && (*line)[*len - 1] == '\r')
                (*len)--;
            r->beg = nl ? stop + 1 : stop;
            r->lineno++;
            return 1;
        }
        if (r->eof)
            return 0;
        /* Need more bytes: move the partial line to the front, grow if full. */
        scanned = r->end - r->beg;
        memmove(r->buf, r->buf + r->beg, scanned);
        r->end = scanned;
        r->beg = 0;
        if (r->end == r->cap) {
            r->cap *= 2;
            r->buf = duet_realloc(r->buf, r->cap);
        }
        size_t want = r->cap - r->end;
        int got = gzread(r->gz, r->buf + r->end, want > (1u << 30) ? (1u << 30) : (unsigned)want);
        if (got < 0) {
            int code;
            const char *msg = gzerror(r->gz, &code);
            return duet_errf(err, "%s: read error after line %zu: %s", r->path, r->lineno,
                             code == Z_ERRNO ? strerror(errno) : msg);
        }
        if (got == 0)
            r->eof = 1;
        r->end += (size_t)got;
    }
}

/* ------------------------------------------------------------ formats */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* 1 for JSONL, 0 for lines, -1 for an unknown format name. */
static int resolve_format(const char *path, const char *format, duet_err *err)
{
    if (!format || strcmp(format, "auto") == 0)
        return ends_with(path, ".jsonl") || ends_with(path, ".jsonl.gz");
    if (strcmp(format, "jsonl") == 0)
        return 1;
    if (strcmp(format, "lines") == 0)
        return 0;
    return duet_errf(err, "%s: unknown text format \"%s\" (expected auto, lines or jsonl)", path,
                     format);
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

int duet_texts_stream(const char *path, const char *format, const char *field,
                      void (*fn)(const char *text, size_t len, void *ctx), void *ctx,
                      duet_err *err)
{
    int jsonl = resolve_format(path, format, err);
    if (jsonl < 0)
        return -1;
    if (!field || !*field)
        field = "text";
    line_reader r;
    if (reader_open(&r, path, err) != 0)
        return -1;
    const char *line;
    size_t len;
    int rc;
    while ((rc = reader_next(&r, &line, &len, err)) == 1) {
        if (!jsonl) {
            fn(line, len, ctx);
            continue;
        }
        if (blank(line, len))
            continue;
        char *text = NULL;
        size_t tlen = 0;
        int got = duet_json_get_string(line, len, field, &text, &tlen, err);
        if (got < 0) {
            rc = duet_err_prefix(err, "%s:%zu", path, r.lineno);
            break;
        }
        if (got > 0) {
            rc = duet_errf(err, "%s:%zu: no string member \"%s\"", path, r.lineno, field);
            break;
        }
        fn(text, tlen, ctx);
        free(text);
    }
    reader_close(&r);
    return rc < 0 ? -1 : 0;
}

static void push_cb(const char *text, size_t len, void *ctx)
{
    duet_texts_push(ctx, text, len);
}

int duet_texts_read(duet_texts *t, const char *path, const char *format, const char *field,
                    duet_err *err)
{
    size_t before = t->n;
    if (duet_texts_stream(path, format, field, push_cb, t, err) != 0) {
        t->n = before; /* all or nothing */
        return -1;
    }
    if (t->n == before)
        return duet_errf(err, "%s: no texts in the file", path);
    if (!t->source)
        t->source = duet_strdup(path);
    return 0;
}
