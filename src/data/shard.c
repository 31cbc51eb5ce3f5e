/* Shard files: writer, validating mmap reader, and sets of shards.
 *
 * Layout (docs/formats.md, "Shard file"), all integers little-endian:
 *   [0, 128)            header (fields below, header CRC32 at 124)
 *   [128, +T*W)         tokens, W = 2 bytes if vocab <= 65535 else 4
 *   zero padding to a multiple of 8
 *   [offsets, +8(D+1))  u64 document offsets in tokens: 0 = o_0 <= ... <= o_D = T
 * The payload CRC32 covers every byte after the header. */
#include "duet/data.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define SHARD_MAGIC "DUETSHRD"
#define SHARD_VERSION 1
#define SHARD_HEADER 128
#define SHARD_FLAG_PAIRED 1u

/* Header field offsets. */
enum {
    H_VERSION = 8, H_HEADER_BYTES = 12, H_VOCAB = 16, H_TOK_ID = 20, H_WIDTH = 24, H_FLAGS = 28,
    H_NTOK = 32, H_NDOCS = 40, H_TEXT_BYTES = 48, H_TOK_OFF = 56, H_OFFS_OFF = 64,
    H_FILE_BYTES = 72, H_PAYLOAD_CRC = 80, H_RESERVED = 84, H_HEADER_CRC = 124
};

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static int width_for(uint32_t vocab)
{
    return vocab <= 65535 ? 2 : 4;
}

/* crc32 over any length (zlib takes uInt). */
static uint32_t crc_update(uint32_t crc, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        uInt k = (uInt)DUET_MIN(n, (size_t)1 << 30);
        crc = (uint32_t)crc32(crc, b, k);
        b += k;
        n -= k;
    }
    return crc;
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* ---------------------------------------------------------------- writer */

struct duet_shard_writer {
    char *path, *tmp, *offs_tmp;
    FILE *f, *offs;
    uint32_t vocab, tok_id;
    int width, paired;
    uint64_t ntok, ndocs, text_bytes;
    uint32_t crc;
    uint8_t *buf;
    size_t buf_cap;
};

static char *path_with(const char *path, const char *suffix)
{
    size_t n = strlen(path) + strlen(suffix) + 1;
    char *p = duet_malloc(n);
    snprintf(p, n, "%s%s", path, suffix);
    return p;
}

static void writer_free(duet_shard_writer *w)
{
    if (w->f)
        fclose(w->f);
    if (w->offs)
        fclose(w->offs);
    free(w->path);
    free(w->tmp);
    free(w->offs_tmp);
    free(w->buf);
    free(w);
}

void duet_shard_writer_abort(duet_shard_writer *w)
{
    if (!w)
        return;
    remove(w->tmp);
    remove(w->offs_tmp);
    writer_free(w);
}

static int write_offset(duet_shard_writer *w, uint64_t off)
{
    uint8_t b[8];
    put64(b, off);
    return fwrite(b, 1, 8, w->offs) == 8 ? 0 : -1;
}

duet_shard_writer *duet_shard_writer_create(const char *path, int vocab, uint32_t tok_id,
                                            int paired, duet_err *err)
{
    if (vocab < 1) {
        duet_errf(err, "shard '%s': bad vocabulary size %d", path, vocab);
        return NULL;
    }
    duet_shard_writer *w = duet_calloc(1, sizeof *w);
    w->path = duet_strdup(path);
    w->tmp = path_with(path, ".tmp");
    w->offs_tmp = path_with(path, ".offs.tmp");
    w->vocab = (uint32_t)vocab;
    w->tok_id = tok_id;
    w->width = width_for(w->vocab);
    w->paired = paired;
    w->crc = (uint32_t)crc32(0L, Z_NULL, 0);
    w->f = fopen(w->tmp, "wb");
    if (w->f)
        w->offs = fopen(w->offs_tmp, "w+b");
    uint8_t zero[SHARD_HEADER] = {0};
    if (!w->f || !w->offs || fwrite(zero, 1, SHARD_HEADER, w->f) != SHARD_HEADER ||
        write_offset(w, 0) != 0) {
        duet_errf(err, "cannot write shard '%s': %s", w->f ? w->offs_tmp : w->tmp,
                  strerror(errno));
        duet_shard_writer_abort(w);
        return NULL;
    }
    return w;
}

int duet_shard_writer_add(duet_shard_writer *w, const int32_t *ids, size_t n, uint64_t text_bytes,
                          duet_err *err)
{
    if (w->buf_cap < n * (size_t)w->width) {
        w->buf_cap = DUET_MAX(n * (size_t)w->width, 2 * w->buf_cap);
        w->buf = duet_realloc(w->buf, w->buf_cap);
    }
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (uint32_t)ids[i] >= w->vocab)
            return duet_errf(err, "shard '%s': token id %d out of range [0, %u)", w->path, ids[i],
                             w->vocab);
        if (w->width == 2) {
            w->buf[2 * i] = (uint8_t)ids[i];
            w->buf[2 * i + 1] = (uint8_t)(ids[i] >> 8);
        } else {
            put32(w->buf + 4 * i, (uint32_t)ids[i]);
        }
    }
    size_t bytes = n * (size_t)w->width;
    if (bytes > 0 && fwrite(w->buf, 1, bytes, w->f) != bytes)
        return duet_errf(err, "cannot write shard '%s': %s", w->tmp, strerror(errno));
    if (bytes > 0)
        w->crc = crc_update(w->crc, w->buf, bytes);
    w->ntok += n;
    w->ndocs++;
    w->text_bytes += text_bytes;
    if (write_offset(w, w->ntok) != 0)
        return duet_errf(err, "cannot write shard offsets '%s': %s", w->offs_tmp, strerror(errno));
    return 0;
}

/* Appends the spilled offsets to the shard, after padding to 8 bytes. */
static int copy_offsets(duet_shard_writer *w, uint64_t *offs_off, duet_err *err)
{
    uint64_t pos = SHARD_HEADER + w->ntok * (uint64_t)w->width;
    uint8_t pad[8] = {0};
    size_t npad = (size_t)((8 - pos % 8) % 8);
    if (fwrite(pad, 1, npad, w->f) != npad)
        return duet_errf(err, "cannot write shard '%s': %s", w->tmp, strerror(errno));
    w->crc = crc_update(w->crc, pad, npad);
    *offs_off = pos + npad;
    if (fflush(w->offs) != 0 || fseeko(w->offs, 0, SEEK_SET) != 0)
        return duet_errf(err, "cannot read back shard offsets '%s': %s", w->offs_tmp,
                         strerror(errno));
    uint8_t chunk[1 << 16];
    uint64_t want = (w->ndocs + 1) * 8, got = 0;
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, w->offs)) > 0) {
        if (fwrite(chunk, 1, k, w->f) != k)
            return duet_errf(err, "cannot write shard '%s': %s", w->tmp, strerror(errno));
        w->crc = crc_update(w->crc, chunk, k);
        got += k;
    }
    if (ferror(w->offs) || got != want)
        return duet_errf(err, "cannot read back shard offsets '%s' (%llu of %llu bytes)",
                         w->offs_tmp, (unsigned long long)got, (unsigned long long)want);
    return 0;
}

int duet_shard_writer_finish(duet_shard_writer *w, duet_err *err)
{
    uint64_t offs_off = 0;
    if (w->paired && w->ndocs % 2 != 0) {
        duet_errf(err, "shard '%s': paired shard with an odd number of documents (%llu)", w->path,
                  (unsigned long long)w->ndocs);
        goto fail;
    }
    if (copy_offsets(w, &offs_off, err) != 0)
        goto fail;
    uint8_t h[SHARD_HEADER] = {0};
    memcpy(h, SHARD_MAGIC, 8);
    put32(h + H_VERSION, SHARD_VERSION);
    put32(h + H_HEADER_BYTES, SHARD_HEADER);
    put32(h + H_VOCAB, w->vocab);
    put32(h + H_TOK_ID, w->tok_id);
    put32(h + H_WIDTH, (uint32_t)w->width);
    put32(h + H_FLAGS, w->paired ? SHARD_FLAG_PAIRED : 0);
    put64(h + H_NTOK, w->ntok);
    put64(h + H_NDOCS, w->ndocs);
    put64(h + H_TEXT_BYTES, w->text_bytes);
    put64(h + H_TOK_OFF, SHARD_HEADER);
    put64(h + H_OFFS_OFF, offs_off);
    put64(h + H_FILE_BYTES, offs_off + (w->ndocs + 1) * 8);
    put32(h + H_PAYLOAD_CRC, w->crc);
    put32(h + H_HEADER_CRC, (uint32_t)crc32(0L, h, H_HEADER_CRC));
    int ok = fseeko(w->f, 0, SEEK_SET) == 0 && fwrite(h, 1, SHARD_HEADER, w->f) == SHARD_HEADER;
    ok = ok && fflush(w->f) == 0 && fsync(fileno(w->f)) == 0;
    ok = (fclose(w->f) == 0) && ok;
    w->f = NULL;
    if (!ok || rename(w->tmp, w->path) != 0) {
        duet_errf(err, "cannot write shard '%s': %s", w->path, strerror(errno));
        goto fail;
    }
    remove(w->offs_tmp);
    writer_free(w);
    return 0;
fail:
    duet_shard_writer_abort(w);
    return -1;
}

/* ---------------------------------------------------------------- reader */

typedef struct shard_file {
    char *path;
    const uint8_t *map;
    size_t size;
    uint32_t vocab, tok_id;
    int width, paired;
    uint64_t ntok, ndocs, text_bytes;
    const uint8_t *tokens;
    const uint64_t *offs; /* little-endian on disk; hosts are checked to be LE */
} shard_file;

static void shard_file_close(shard_file *f)
{
    if (f->map)
        munmap((void *)f->map, f->size);
    free(f->path);
    memset(f, 0, sizeof *f);
}

static inline uint32_t token_at(const shard_file *f, uint64_t i)
{
    if (f->width == 2)
        return ((const uint16_t *)f->tokens)[i];
    return ((const uint32_t *)f->tokens)[i];
}

/* Checks everything the header claims against the file, then the data. */
static int validate(shard_file *f, duet_err *err)
{
    const uint8_t *h = f->map;
    const char *p = f->path;
    if (f->size < SHARD_HEADER)
        return duet_errf(err, "shard '%s': truncated (%zu bytes, the header alone is %d)", p,
                         f->size, SHARD_HEADER);
    if (memcmp(h, SHARD_MAGIC, 8) != 0)
        return duet_errf(err, "shard '%s': not a duet shard file (bad magic)", p);
    uint32_t version = get32(h + H_VERSION);
    if (version != SHARD_VERSION)
        return duet_errf(err, "shard '%s': format version %u, this build reads version %d "
                         "(re-run duet-prep shards)", p, version, SHARD_VERSION);
    if (get32(h + H_HEADER_CRC) != (uint32_t)crc32(0L, h, H_HEADER_CRC))
        return duet_errf(err, "shard '%s': header checksum mismatch (file corrupted)", p);
    f->vocab = get32(h + H_VOCAB);
    f->tok_id = get32(h + H_TOK_ID);
    f->width = (int)get32(h + H_WIDTH);
    uint32_t flags = get32(h + H_FLAGS);
    f->paired = (flags & SHARD_FLAG_PAIRED) != 0;
    f->ntok = get64(h + H_NTOK);
    f->ndocs = get64(h + H_NDOCS);
    f->text_bytes = get64(h + H_TEXT_BYTES);
    uint64_t tok_off = get64(h + H_TOK_OFF), offs_off = get64(h + H_OFFS_OFF);
    uint64_t file_bytes = get64(h + H_FILE_BYTES);
    if (get32(h + H_HEADER_BYTES) != SHARD_HEADER || f->vocab == 0 || f->vocab > INT32_MAX ||
        f->width != width_for(f->vocab) || (flags & ~SHARD_FLAG_PAIRED) != 0 ||
        tok_off != SHARD_HEADER)
        return duet_errf(err, "shard '%s': inconsistent header (vocab %u, token width %d, "
                         "flags %u)", p, f->vocab, f->width, flags);
    for (int i = H_RESERVED; i < H_HEADER_CRC; i++)
        if (h[i] != 0)
            return duet_errf(err, "shard '%s': reserved header byte %d is %u, not 0 (written "
                             "by a newer duet-prep, or corrupted)", p, i, h[i]);
    if (file_bytes != f->size)
        return duet_errf(err, "shard '%s': file is %zu bytes, its header says %llu (truncated?)",
                         p, f->size, (unsigned long long)file_bytes);
    /* Sizes, without overflow: tokens, padding, offsets must tile the file. */
    uint64_t room = f->size - SHARD_HEADER;
    if (f->ntok > room / (uint64_t)f->width)
        return duet_errf(err, "shard '%s': %llu tokens do not fit in %zu bytes", p,
                         (unsigned long long)f->ntok, f->size);
    uint64_t tok_end = SHARD_HEADER + f->ntok * (uint64_t)f->width;
    if (offs_off != (tok_end + 7) / 8 * 8 || offs_off > f->size ||
        f->ndocs >= (f->size - offs_off) / 8 || offs_off + (f->ndocs + 1) * 8 != f->size)
        return duet_errf(err, "shard '%s': sizes do not match the file (%llu tokens, %llu "
                         "documents, %zu bytes)", p, (unsigned long long)f->ntok,
                         (unsigned long long)f->ndocs, f->size);
    if (f->paired && f->ndocs % 2 != 0)
        return duet_errf(err, "shard '%s': paired shard with an odd number of documents", p);
    uint32_t crc = crc_update((uint32_t)crc32(0L, Z_NULL, 0), h + SHARD_HEADER,
                              f->size - SHARD_HEADER);
    if (crc != get32(h + H_PAYLOAD_CRC))
        return duet_errf(err, "shard '%s': payload checksum mismatch (file corrupted)", p);
    f->tokens = h + SHARD_HEADER;
    f->offs = (const uint64_t *)(h + offs_off);
    if (f->offs[0] != 0 || f->offs[f->ndocs] != f->ntok)
        return duet_errf(err, "shard '%s': document offsets do not span the tokens", p);
    for (uint64_t d = 0; d < f->ndocs; d++)
        if (f->offs[d + 1] < f->offs[d])
            return duet_errf(err, "shard '%s': document offsets decrease at document %llu", p,
                             (unsigned long long)d);
    for (uint64_t i = 0; i < f->ntok; i++) {
        uint32_t t = token_at(f, i);
        if (t >= f->vocab)
            return duet_errf(err, "shard '%s': token %llu has id %u, outside the vocabulary "
                             "(%u)", p, (unsigned long long)i, t, f->vocab);
    }
    return 0;
}

static int shard_file_open(shard_file *f, const char *path, duet_err *err)
{
    memset(f, 0, sizeof *f);
    f->path = duet_strdup(path);
    if (!host_is_little_endian())
        return duet_errf(err, "shard '%s': shards are little-endian; this host is not", path);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return duet_errf(err, "cannot open shard '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return duet_errf(err, "shard '%s': not a regular file", path);
    }
    f->size = (size_t)st.st_size;
    if (f->size == 0) {
        close(fd);
        return duet_errf(err, "shard '%s': empty file", path);
    }
    void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return duet_errf(err, "cannot map shard '%s': %s", path, strerror(errno));
    f->map = m;
    return validate(f, err);
}

/* ------------------------------------------------------------------ sets */

struct duet_shard_set {
    int nfiles;
    shard_file *files;
    uint64_t *doc_base; /* [nfiles+1] first global document of each file */
    uint64_t *tok_base; /* [nfiles+1] first global token of each file */
    uint64_t text_bytes;
};

void duet_shards_close(duet_shard_set *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->nfiles; i++)
        shard_file_close(&s->files[i]);
    free(s->files);
    free(s->doc_base);
    free(s->tok_base);
    free(s);
}

/* Paths named by spec: a file, a directory's *.bin, or prefix_*.bin.
 * Returns 1 when the list is our own (one file; free with free_spec(g, 1)),
 * 0 when glob made it, -1 on error. */
static int expand_spec(const char *spec, glob_t *g, duet_err *err)
{
    struct stat st;
    char pat[PATH_MAX + 16];
    memset(g, 0, sizeof *g);
    if (stat(spec, &st) == 0 && S_ISREG(st.st_mode)) {
        /* Not through glob, which would read [ ] * ? in the name as a pattern. */
        g->gl_pathc = 1;
        g->gl_pathv = duet_calloc(2, sizeof(char *));
        g->gl_pathv[0] = duet_strdup(spec);
        return 1;
    }
    int is_dir = stat(spec, &st) == 0 && S_ISDIR(st.st_mode);
    if ((size_t)snprintf(pat, sizeof pat, is_dir ? "%s/*.bin" : "%s_*.bin", spec) >= sizeof pat)
        return duet_errf(err, "shard path too long: '%s'", spec);
    int rc = glob(pat, 0, NULL, g);
    if (rc == GLOB_NOMATCH || (rc == 0 && g->gl_pathc == 0)) {
        globfree(g);
        return duet_errf(err, "no shard files for '%s' (looked for %s; run duet-prep shards)",
                         spec, pat);
    }
    if (rc != 0) {
        globfree(g);
        return duet_errf(err, "cannot list shard files '%s'", pat);
    }
    return 0;
}

static void free_spec(glob_t *g, int mine)
{
    if (mine) {
        free(g->gl_pathv[0]);
        free(g->gl_pathv);
    } else {
        globfree(g);
    }
}

duet_shard_set *duet_shards_open(const char *spec, int expected_vocab, uint32_t expected_tok_id,
                                 duet_err *err)
{
    glob_t g;
    int mine = expand_spec(spec, &g, err);
    if (mine < 0)
        return NULL;
    duet_shard_set *s = duet_calloc(1, sizeof *s);
    s->files = duet_calloc(g.gl_pathc, sizeof *s->files);
    s->doc_base = duet_calloc(g.gl_pathc + 1, sizeof *s->doc_base);
    s->tok_base = duet_calloc(g.gl_pathc + 1, sizeof *s->tok_base);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        shard_file *f = &s->files[i];
        s->nfiles++;
        if (shard_file_open(f, g.gl_pathv[i], err) != 0)
            goto fail;
        const shard_file *f0 = &s->files[0];
        if (expected_vocab && f->vocab != (uint32_t)expected_vocab) {
            duet_errf(err, "shard '%s': vocabulary size %u, expected %d (made with another "
                      "tokenizer? re-run duet-prep shards)", f->path, f->vocab, expected_vocab);
            goto fail;
        }
        if (expected_tok_id && f->tok_id != expected_tok_id) {
            duet_errf(err, "shard '%s': tokenizer id %08x, expected %08x (made with another "
                      "tokenizer? re-run duet-prep shards)", f->path, f->tok_id, expected_tok_id);
            goto fail;
        }
        if (f->vocab != f0->vocab || f->tok_id != f0->tok_id || f->paired != f0->paired) {
            duet_errf(err, "shard '%s' does not match '%s' (vocabulary %u/%u, tokenizer %08x/%08x,"
                      " paired %d/%d)", f->path, f0->path, f->vocab, f0->vocab, f->tok_id,
                      f0->tok_id, f->paired, f0->paired);
            goto fail;
        }
        s->doc_base[i + 1] = s->doc_base[i] + f->ndocs;
        s->tok_base[i + 1] = s->tok_base[i] + f->ntok;
        s->text_bytes += f->text_bytes;
    }
    free_spec(&g, mine);
    return s;
fail:
    free_spec(&g, mine);
    duet_shards_close(s);
    return NULL;
}

uint64_t duet_shards_num_tokens(const duet_shard_set *s)
{
    return s->tok_base[s->nfiles];
}

uint64_t duet_shards_num_docs(const duet_shard_set *s)
{
    return s->doc_base[s->nfiles];
}

int duet_shards_vocab_size(const duet_shard_set *s)
{
    return (int)s->files[0].vocab;
}

uint32_t duet_shards_tokenizer_id(const duet_shard_set *s)
{
    return s->files[0].tok_id;
}

int duet_shards_paired(const duet_shard_set *s)
{
    return s->files[0].paired;
}

int duet_shards_num_files(const duet_shard_set *s)
{
    return s->nfiles;
}

const char *duet_shards_file(const duet_shard_set *s, int i)
{
    return s->files[i].path;
}

uint64_t duet_shards_text_bytes(const duet_shard_set *s)
{
    return s->text_bytes;
}

/* File holding global document d, and d's index inside it. */
static const shard_file *locate(const duet_shard_set *s, uint64_t d, uint64_t *local, int *fi)
{
    if (d >= duet_shards_num_docs(s))
        duet_fatal("document %llu out of range (%llu documents)", (unsigned long long)d,
                   (unsigned long long)duet_shards_num_docs(s));
    int lo = 0, hi = s->nfiles - 1; /* last file with doc_base <= d */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (s->doc_base[mid] <= d)
            lo = mid;
        else
            hi = mid - 1;
    }
    *local = d - s->doc_base[lo];
    if (fi)
        *fi = lo;
    return &s->files[lo];
}

uint64_t duet_shards_doc_len(const duet_shard_set *s, uint64_t d)
{
    uint64_t ld;
    const shard_file *f = locate(s, d, &ld, NULL);
    return f->offs[ld + 1] - f->offs[ld];
}

uint64_t duet_shards_doc_offset(const duet_shard_set *s, uint64_t d)
{
    uint64_t ld;
    int fi;
    const shard_file *f = locate(s, d, &ld, &fi);
    return s->tok_base[fi] + f->offs[ld];
}

void duet_shards_read(const duet_shard_set *s, uint64_t d, uint64_t off, size_t n, int32_t *out)
{
    uint64_t ld;
    const shard_file *f = locate(s, d, &ld, NULL);
    uint64_t start = f->offs[ld] + off;
    if (off > f->offs[ld + 1] - f->offs[ld] || n > f->offs[ld + 1] - start)
        duet_fatal("read past the end of document %llu", (unsigned long long)d);
    if (f->width == 2) {
        const uint16_t *t = (const uint16_t *)f->tokens + start;
        for (size_t i = 0; i < n; i++)
            out[i] = t[i];
    } else {
        const uint32_t *t = (const uint32_t *)f->tokens + start;
        for (size_t i = 0; i < n; i++)
            out[i] = (int32_t)t[i];
    }
}
