/* corrupt — corruption campaign over a checkpoint, shard or tokenizer file.
 *
 *   corrupt FILE SEED COUNT OUT     COUNT mutants of each class, each written to
 *                                   OUT and read back in process; prints counts
 *   corrupt --emit CLASS I FILE SEED OUT   writes mutant I of CLASS to OUT (for
 *                                   running the real binaries on it)
 *
 * Classes: flip (1-4 random bytes changed, biased to the first 512 bytes),
 * trunc (cut at a random length), header (one header or table field set to
 * 0 / 1 / -1 / huge / most negative / off by one / random). Flips get their
 * checksums recomputed half of the time and header edits always (except
 * edits of a checksum field), so mutants reach the checks behind the CRC.
 * The kind comes from the file's magic; mutant I of a class depends only on
 * (SEED, class, I).
 *
 * Each mutant must be rejected with a message naming OUT, or accepted with
 * exactly the original content, or — only if its checksums were recomputed —
 * accepted as a well-formed file (e.g. another step number). Anything else
 * (undetected corruption, a message without the path, an accepted file that
 * misbehaves) is printed and makes the exit status 1; a crash or sanitizer
 * report aborts the process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duet/util.h"
#include "hostile.h"
#include "testutil.h"

enum { FLIP, TRUNC, HEADER, NCLASSES };
static const char *const class_name[NCLASSES] = {"flip", "trunc", "header"};

/* A header or table field: width 1..8 is a little-endian integer, 0 a byte
 * string of `len` bytes; `count` fields `stride` apart (a table column). */
typedef struct field {
    const char *name;
    size_t off;
    int width;
    size_t len, count, stride;
    int is_crc;
} field;

#define MAX_FIELDS 64

static uint64_t get_le(const uint8_t *p, int w)
{
    uint64_t v = 0;
    for (int i = w - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void put_le(uint8_t *p, int w, uint64_t v)
{
    for (int i = 0; i < w; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void add(field *f, size_t *n, field x)
{
    if (x.count == 0)
        x.count = 1;
    if (*n < MAX_FIELDS)
        f[(*n)++] = x;
}

/* The fields of the original file b[0..n) (docs/formats.md). */
static size_t fields_of(hostile_kind k, const uint8_t *b, size_t n, field *f)
{
    size_t nf = 0;
    add(f, &nf, (field){"magic", 0, 0, 8, 0, 0, 0});
    if (k == HOSTILE_CKPT) {
        size_t nsec = (size_t)get_le(b + 32, 4);
        add(f, &nf, (field){"version", 8, 4, 0, 0, 0, 0});
        add(f, &nf, (field){"flags", 12, 4, 0, 0, 0, 0});
        add(f, &nf, (field){"step", 16, 8, 0, 0, 0, 0});
        add(f, &nf, (field){"file_size", 24, 8, 0, 0, 0, 0});
        add(f, &nf, (field){"nsections", 32, 4, 0, 0, 0, 0});
        add(f, &nf, (field){"header_crc", 36, 4, 0, 0, 0, 1});
        add(f, &nf, (field){"objective", 40, 0, 32, 0, 0, 0});
        add(f, &nf, (field){"section.name", 72, 0, 32, nsec, 64, 0});
        add(f, &nf, (field){"section.offset", 72 + 32, 8, 0, nsec, 64, 0});
        add(f, &nf, (field){"section.comp_size", 72 + 40, 8, 0, nsec, 64, 0});
        add(f, &nf, (field){"section.raw_size", 72 + 48, 8, 0, nsec, 64, 0});
        add(f, &nf, (field){"section.crc32", 72 + 56, 4, 0, nsec, 64, 1});
        add(f, &nf, (field){"section.method", 72 + 60, 2, 0, nsec, 64, 0});
        add(f, &nf, (field){"section.elem_size", 72 + 62, 2, 0, nsec, 64, 0});
    } else if (k == HOSTILE_SHARD) {
        static const struct { const char *name; size_t off; int w; } h[] = {
            {"version", 8, 4}, {"header_bytes", 12, 4}, {"vocab", 16, 4}, {"tok_id", 20, 4},
            {"width", 24, 4}, {"flags", 28, 4}, {"ntok", 32, 8}, {"ndocs", 40, 8},
            {"text_bytes", 48, 8}, {"tok_off", 56, 8}, {"offs_off", 64, 8}, {"file_bytes", 72, 8}};
        for (size_t i = 0; i < sizeof h / sizeof h[0]; i++)
            add(f, &nf, (field){h[i].name, h[i].off, h[i].w, 0, 0, 0, 0});
        add(f, &nf, (field){"payload_crc", 80, 4, 0, 0, 0, 1});
        add(f, &nf, (field){"reserved", 84, 0, 40, 0, 0, 0});
        add(f, &nf, (field){"header_crc", 124, 4, 0, 0, 0, 1});
        uint64_t offs = get_le(b + 64, 8), ndocs = get_le(b + 40, 8);
        add(f, &nf, (field){"doc_offset", (size_t)offs, 8, 0, (size_t)ndocs + 1, 8, 0});
        add(f, &nf, (field){"token", 128, (int)get_le(b + 24, 4), 0,
                            (size_t)get_le(b + 32, 8), (size_t)get_le(b + 24, 4), 0});
    } else {
        static const struct { const char *name; size_t off; } h[] = {
            {"version", 8}, {"vocab", 12}, {"nspecial", 16}, {"nmerges", 20}, {"max_word", 24},
            {"pretok", 28}};
        for (size_t i = 0; i < sizeof h / sizeof h[0]; i++)
            add(f, &nf, (field){h[i].name, h[i].off, 4, 0, 0, 0, 0});
        add(f, &nf, (field){"merge", 32, 4, 0, (n - 36) / 4, 4, 0});
        add(f, &nf, (field){"crc", n - 4, 4, 0, 0, 0, 1});
    }
    return nf;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Writes mutant i of class c of orig[0..n) to m (capacity n); returns its
 * length; *fixed tells whether checksums were recomputed; desc says what
 * changed. */
static size_t mutate(hostile_kind k, const field *fl, size_t nf, int c, uint64_t seed, int i,
                     const uint8_t *orig, size_t n, uint8_t *m, int *fixed, char *desc,
                     size_t dcap)
{
    uint64_t s = seed ^ ((uint64_t)c << 56) ^ (uint64_t)i * 0xD6E8FEB86659FD93ULL;
    splitmix(&s);
    memcpy(m, orig, n);
    *fixed = 0;
    if (c == TRUNC) {
        size_t len = (size_t)(splitmix(&s) % (splitmix(&s) & 1 ? n : DUET_MIN(n, (size_t)600)));
        snprintf(desc, dcap, "truncated to %zu of %zu bytes", len, n);
        return len;
    }
    if (c == FLIP) {
        int nb = 1 + (int)(splitmix(&s) % 4);
        size_t len = 0;
        len += (size_t)snprintf(desc, dcap, "bytes");
        for (int j = 0; j < nb; j++) {
            size_t span = splitmix(&s) & 1 ? n : DUET_MIN(n, (size_t)512);
            size_t at = (size_t)(splitmix(&s) % span);
            uint8_t x = splitmix(&s) & 1 ? (uint8_t)(1u << (splitmix(&s) % 8))
                                         : (uint8_t)(1 + splitmix(&s) % 255);
            m[at] ^= x;
            if (len < dcap)
                len += (size_t)snprintf(desc + len, dcap - len, " %zu^0x%02x", at, x);
        }
        *fixed = (int)(splitmix(&s) & 1);
    } else {
        const field *f = &fl[splitmix(&s) % nf];
        size_t row = (size_t)(splitmix(&s) % f->count);
        size_t at = f->off + row * f->stride;
        size_t w = f->width ? (size_t)f->width : f->len;
        if (at > n || w > n - at) { /* a column of a table the file cannot hold */
            snprintf(desc, dcap, "%s[%zu] outside the file: unchanged", f->name, row);
            return n;
        }
        if (f->width == 0) {
            size_t b = at + (size_t)(splitmix(&s) % f->len);
            m[b] = (uint8_t)splitmix(&s);
            snprintf(desc, dcap, "%s[%zu] byte %zu: 0x%02x -> 0x%02x", f->name, row, b - at,
                     orig[b], m[b]);
        } else {
            int bits = 8 * f->width;
            uint64_t mask = bits == 64 ? ~0ULL : (1ULL << bits) - 1, old = get_le(m + at, f->width);
            uint64_t choices[] = {0, 1, mask, mask >> 1, (mask >> 1) + 1, old + 1, old - 1,
                                  old << 1, old >> 1, splitmix(&s),
                                  old ^ (1ULL << (splitmix(&s) % (unsigned)bits)),
                                  bits == 64 ? (1ULL << 40) : mask >> 2};
            uint64_t v = choices[splitmix(&s) % (sizeof choices / sizeof choices[0])] & mask;
            put_le(m + at, f->width, v);
            snprintf(desc, dcap, "%s[%zu] = %llu (was %llu)", f->name, row,
                     (unsigned long long)v, (unsigned long long)old);
        }
        *fixed = !f->is_crc;
    }
    if (*fixed)
        hostile_fix_crc(k, m, n);
    if (*fixed && dcap > strlen(desc) + 24)
        strcat(desc, ", checksums recomputed");
    return n;
}

static int write_file(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "corrupt: cannot write %s\n", path);
        if (f)
            fclose(f);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int emit = argc == 7 && strcmp(argv[1], "--emit") == 0;
    if (!emit && argc != 5) {
        fprintf(stderr, "usage: corrupt FILE SEED COUNT OUT\n"
                        "       corrupt --emit flip|trunc|header INDEX FILE SEED OUT\n");
        return 2;
    }
    const char *in = argv[emit ? 4 : 1], *out = argv[emit ? 6 : 4];
    uint64_t seed = strtoull(argv[emit ? 5 : 2], NULL, 10);
    size_t n = 0;
    uint8_t *orig = test_read_file(in, &n);
    int kind = orig ? hostile_kind_of(orig, n) : -1;
    if (kind < 0) {
        fprintf(stderr, "corrupt: %s: unreadable or not a checkpoint, shard or tokenizer\n", in);
        return 2;
    }
    field fl[MAX_FIELDS];
    size_t nf = fields_of((hostile_kind)kind, orig, n, fl);
    uint8_t *m = duet_malloc(n);
    char desc[512];
    int fixed;
    if (emit) {
        int c = 0;
        while (c < NCLASSES && strcmp(argv[2], class_name[c]) != 0)
            c++;
        if (c == NCLASSES) {
            fprintf(stderr, "corrupt: unknown class '%s'\n", argv[2]);
            return 2;
        }
        size_t len = mutate((hostile_kind)kind, fl, nf, c, seed, atoi(argv[3]), orig, n, m, &fixed,
                            desc, sizeof desc);
        printf("%s\n", desc);
        int rc = write_file(out, m, len) == 0 ? 0 : 2;
        free(m);
        free(orig);
        return rc;
    }
    int count = atoi(argv[3]), failures = 0;
    duet_err err;
    uint64_t want;
    if (write_file(out, orig, n) != 0)
        return 2;
    if (hostile_consume((hostile_kind)kind, out, &want, &err) != 0) {
        fprintf(stderr, "corrupt: the original %s does not load: %s\n", in, err.msg);
        return 2;
    }
    for (int c = 0; c < NCLASSES; c++) {
        int rejected = 0, same = 0, forged = 0;
        double t0 = duet_now();
        for (int i = 0; i < count; i++) {
            size_t len = mutate((hostile_kind)kind, fl, nf, c, seed, i, orig, n, m, &fixed, desc,
                                sizeof desc);
            if (write_file(out, m, len) != 0)
                return 2;
            uint64_t got;
            err.msg[0] = 0;
            int rc = hostile_consume((hostile_kind)kind, out, &got, &err);
            const char *bad = NULL;
            if (rc == -1 && strstr(err.msg, out))
                rejected++;
            else if (rc == -1)
                bad = "rejected, but the message does not name the file";
            else if (rc == -2)
                bad = "accepted, then misbehaved";
            else if (got == want)
                same++;
            else if (fixed)
                forged++;
            else
                bad = "accepted corrupted content";
            if (bad) {
                failures++;
                printf("FAIL %s %s #%d (%s): %s: %s\n", hostile_kind_name((hostile_kind)kind),
                       class_name[c], i, desc, bad, err.msg);
            }
        }
        printf("%-10s %-6s %5d mutants: %5d rejected, %4d accepted unchanged, %4d accepted "
               "well-formed after checksum repair, %d failures (%.1f s)\n",
               hostile_kind_name((hostile_kind)kind), class_name[c], count, rejected, same,
               forged, count - rejected - same - forged, duet_now() - t0);
        fflush(stdout);
    }
    free(m);
    free(orig);
    return failures ? 1 : 0;
}
