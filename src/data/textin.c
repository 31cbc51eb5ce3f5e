/* Streaming document readers: plain text (one document per line, or blank-
 * line-separated paragraphs), JSONL with string fields, TSV pairs; each file
 * optionally gzip-compressed (zlib's gzread also reads plain files). Only the
 * current document is held in memory, so inputs may be far larger than RAM. */
#include "duet/data.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "duet/json.h"

/* A document larger than this is an error rather than an allocation that
 * could take the machine down (it would not fit a training window anyway). */
#define MAX_DOC_BYTES ((size_t)1 << 30)
#define READ_CHUNK ((size_t)1 << 20)

enum fmt { FMT_LINES, FMT_PARAGRAPHS, FMT_JSONL, FMT_TSV };

/* A growable byte buffer. */
typedef struct bytes {
    char *p;
    size_t n, cap;
} bytes;

static int bytes_append(bytes *b, const char *s, size_t n)
{
    if (n > MAX_DOC_BYTES - b->n)
        return -1;
    if (b->n + n + 1 > b->cap) {
        size_t cap = DUET_MAX(b->cap * 2, b->n + n + 1);
        b->p = duet_realloc(b->p, DUET_MAX(cap, (size_t)256));
        b->cap = DUET_MAX(cap, (size_t)256);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

struct duet_text_reader {
    char **paths;
    int npaths;
    enum fmt *fmts;       /* per file (auto resolves by extension) */
    int paired;
    char *jsonl_field, *source_field, *target_field;

    int fi;               /* current file; npaths when done */
    gzFile gz;
    char *buf;            /* READ_CHUNK bytes of input */
    size_t beg, end;
    int eof;
    bytes line;           /* a line that spans reads */
    bytes para;           /* paragraph being assembled */
    char *field[2];       /* decoded JSON strings of the current record */
    uint64_t lineno;      /* lines read from the current file */
    uint64_t index;       /* next record index */
    uint64_t bytes_in;
};

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Format of one file: the explicit choice, or by extension (after .gz). */
static int resolve_format(const char *path, const char *format, int paired, enum fmt *out,
                          duet_err *err)
{
    if (!format || !*format || strcmp(format, "auto") == 0) {
        char base[4096];
        if (duet_strlcpy(base, path, sizeof base) != 0)
            return duet_errf(err, "input path too long: '%s'", path);
        size_t n = strlen(base);
        if (ends_with(base, ".gz"))
            base[n - 3] = 0;
        if (ends_with(base, ".jsonl") || ends_with(base, ".json"))
            *out = FMT_JSONL;
        else if (ends_with(base, ".tsv"))
            *out = FMT_TSV;
        else
            *out = FMT_LINES;
    } else if (strcmp(format, "lines") == 0) {
        *out = FMT_LINES;
    } else if (strcmp(format, "paragraphs") == 0) {
        *out = FMT_PARAGRAPHS;
    } else if (strcmp(format, "jsonl") == 0) {
        *out = FMT_JSONL;
    } else if (strcmp(format, "tsv") == 0) {
        *out = FMT_TSV;
    } else {
        return duet_errf(err, "unknown input format '%s' (use auto|lines|paragraphs|jsonl|tsv)",
                         format);
    }
    if (paired && (*out == FMT_LINES || *out == FMT_PARAGRAPHS))
        return duet_errf(err, "'%s': paired data must be TSV (source<TAB>target) or JSONL, not "
                         "plain text", path);
    if (!paired && *out == FMT_TSV)
        return duet_errf(err, "'%s': TSV input holds (source, target) pairs; set paired=1", path);
    return 0;
}

void duet_text_close(duet_text_reader *r)
{
    if (!r)
        return;
    if (r->gz)
        gzclose(r->gz);
    for (int i = 0; i < r->npaths; i++)
        free(r->paths[i]);
    free(r->paths);
    free(r->fmts);
    free(r->jsonl_field);
    free(r->source_field);
    free(r->target_field);
    free(r->buf);
    free(r->line.p);
    free(r->para.p);
    free(r->field[0]);
    free(r->field[1]);
    free(r);
}

duet_text_reader *duet_text_open(const duet_text_spec *s, duet_err *err)
{
    if (s->npaths <= 0) {
        duet_errf(err, "no input files given (set input=FILE[,FILE...])");
        return NULL;
    }
    duet_text_reader *r = duet_calloc(1, sizeof *r);
    r->npaths = s->npaths;
    r->paths = duet_calloc((size_t)s->npaths, sizeof *r->paths);
    r->fmts = duet_calloc((size_t)s->npaths, sizeof *r->fmts);
    r->paired = s->paired;
    r->jsonl_field = duet_strdup(s->jsonl_field && *s->jsonl_field ? s->jsonl_field : "text");
    r->source_field = duet_strdup(s->source_field && *s->source_field ? s->source_field : "source");
    r->target_field = duet_strdup(s->target_field && *s->target_field ? s->target_field : "target");
    r->buf = duet_malloc(READ_CHUNK);
    for (int i = 0; i < s->npaths; i++) {
        r->paths[i] = duet_strdup(s->paths[i]);
        /* Check every file now, so a typo in the last one does not fail an
         * hour into the run. */
        struct stat st;
        if (stat(s->paths[i], &st) != 0) {
            duet_errf(err, "cannot open input '%s': %s", s->paths[i], strerror(errno));
            goto fail;
        }
        if (S_ISDIR(st.st_mode)) {
            duet_errf(err, "input '%s' is a directory (give files)", s->paths[i]);
            goto fail;
        }
        if (resolve_format(s->paths[i], s->format, s->paired, &r->fmts[i], err) != 0)
            goto fail;
    }
    r->fi = -1;
    return r;
fail:
    duet_text_close(r);
    return NULL;
}

uint64_t duet_text_bytes(const duet_text_reader *r)
{
    return r->bytes_in;
}

static const char *cur_path(const duet_text_reader *r)
{
    return r->fi >= 0 && r->fi < r->npaths ? r->paths[r->fi] : "";
}

/* Moves to the next file; 0 when there is none. */
static int next_file(duet_text_reader *r, duet_err *err)
{
    if (r->gz) {
        gzclose(r->gz);
        r->gz = NULL;
    }
    r->fi++;
    if (r->fi >= r->npaths)
        return 0;
    r->gz = gzopen(r->paths[r->fi], "rb");
    if (!r->gz)
        return duet_errf(err, "cannot open input '%s': %s", r->paths[r->fi],
                         errno ? strerror(errno) : "out of memory");
    gzbuffer(r->gz, 1 << 17);
    r->beg = r->end = 0;
    r->eof = 0;
    r->lineno = 0;
    return 1;
}

static int refill(duet_text_reader *r, duet_err *err)
{
    int n = gzread(r->gz, r->buf, (unsigned)READ_CHUNK);
    int zerr = 0;
    const char *msg = gzerror(r->gz, &zerr);
    if (n < 0 || (zerr != Z_OK && zerr != Z_BUF_ERROR))
        return duet_errf(err, "error reading '%s': %s", cur_path(r), msg);
    if (n == 0) {
        /* Z_BUF_ERROR at the end: the gzip stream stops mid-member. */
        if (zerr == Z_BUF_ERROR)
            return duet_errf(err, "error reading '%s': truncated gzip file (%s)", cur_path(r), msg);
        r->eof = 1;
    }
    r->beg = 0;
    r->end = (size_t)n;
    r->bytes_in += (size_t)n;
    return 0;
}

/* Next line of the current file without its '\n' (and a '\r' before it).
 * 1: got one, 0: end of file, -1: error. */
static int read_line(duet_text_reader *r, const char **out, size_t *len, duet_err *err)
{
    int partial = 0;
    r->line.n = 0;
    for (;;) {
        if (r->beg < r->end) {
            char *s = r->buf + r->beg;
            char *nl = memchr(s, '\n', r->end - r->beg);
            size_t n = nl ? (size_t)(nl - s) : r->end - r->beg;
            if (nl && !partial) {
                *out = s;
                *len = n;
                r->beg += n + 1;
                break;
            }
            if (bytes_append(&r->line, s, n) != 0)
                return duet_errf(err, "%s:%llu: line longer than %zu bytes", cur_path(r),
                                 (unsigned long long)r->lineno + 1, MAX_DOC_BYTES);
            partial = 1;
            r->beg += n + (nl ? 1 : 0);
            if (nl) {
                *out = r->line.p;
                *len = r->line.n;
                break;
            }
        }
        if (r->eof) {
            if (!partial)
                return 0;
            *out = r->line.p;
            *len = r->line.n;
            break;
        }
        if (refill(r, err) != 0)
            return -1;
    }
    r->lineno++;
    if (*len > 0 && (*out)[*len - 1] == '\r')
        (*len)--;
    return 1;
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

static int json_field(duet_text_reader *r, const char *s, size_t n, const char *name, int slot,
                      duet_text_record *rec, duet_err *err)
{
    free(r->field[slot]);
    r->field[slot] = NULL;
    int rc = duet_json_get_string(s, n, name, &r->field[slot], &rec->len[slot], err);
    if (rc < 0)
        return duet_err_prefix(err, "%s:%llu", cur_path(r), (unsigned long long)r->lineno);
    if (rc > 0)
        return duet_errf(err, "%s:%llu: JSON object has no string field '%s' (set %s)",
                         cur_path(r), (unsigned long long)r->lineno, name,
                         slot == 0 && !r->paired ? "jsonl_field" :
                         slot == 0 ? "source_field" : "target_field");
    rec->text[slot] = r->field[slot];
    return 0;
}

/* One record from the current file: 1, 0 at its end, -1 on error. */
static int record_from_file(duet_text_reader *r, duet_text_record *rec, duet_err *err)
{
    const char *s;
    size_t n;
    enum fmt f = r->fmts[r->fi];
    if (f == FMT_PARAGRAPHS) {
        r->para.n = 0;
        for (;;) {
            int rc = read_line(r, &s, &n, err);
            if (rc < 0)
                return -1;
            if (rc == 0)
                break;
            if (is_blank(s, n)) {
                if (r->para.n > 0)
                    break;
                continue; /* blank lines between paragraphs */
            }
            if (r->para.n == 0)
                rec->line = r->lineno;
            if ((r->para.n > 0 && bytes_append(&r->para, "\n", 1) != 0) ||
                bytes_append(&r->para, s, n) != 0)
                return duet_errf(err, "%s:%llu: paragraph longer than %zu bytes", cur_path(r),
                                 (unsigned long long)rec->line, MAX_DOC_BYTES);
        }
        if (r->para.n == 0)
            return 0;
        rec->text[0] = r->para.p;
        rec->len[0] = r->para.n;
        return 1;
    }
    int rc = read_line(r, &s, &n, err);
    if (rc <= 0)
        return rc;
    rec->line = r->lineno;
    if (f == FMT_LINES) {
        rec->text[0] = s;
        rec->len[0] = n;
    } else if (f == FMT_TSV) {
        const char *tab = memchr(s, '\t', n);
        if (!tab) {
            if (is_blank(s, n))
                return 1; /* an empty record */
            return duet_errf(err, "%s:%llu: no TAB in line (expected source<TAB>target)",
                             cur_path(r), (unsigned long long)r->lineno);
        }
        rec->text[0] = s;
        rec->len[0] = (size_t)(tab - s);
        rec->text[1] = tab + 1;
        rec->len[1] = n - rec->len[0] - 1;
    } else if (!is_blank(s, n)) { /* JSONL; a blank line is an empty record */
        if (!r->paired)
            return json_field(r, s, n, r->jsonl_field, 0, rec, err) ? -1 : 1;
        if (json_field(r, s, n, r->source_field, 0, rec, err) != 0 ||
            json_field(r, s, n, r->target_field, 1, rec, err) != 0)
            return -1;
    }
    return 1;
}

int duet_text_next(duet_text_reader *r, duet_text_record *rec, duet_err *err)
{
    memset(rec, 0, sizeof *rec);
    rec->text[0] = rec->text[1] = "";
    for (;;) {
        if (r->fi >= r->npaths)
            return 0;
        if (r->fi >= 0) {
            int rc = record_from_file(r, rec, err);
            if (rc < 0)
                return -1;
            if (rc > 0) {
                rec->index = r->index++;
                rec->file = cur_path(r);
                return 1;
            }
        }
        int rc = next_file(r, err);
        if (rc < 0)
            return -1;
        if (rc == 0)
            return 0;
    }
}
