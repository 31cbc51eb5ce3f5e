/* Word tokenizations of SPEC §6.4 (spaCy-like) and §6.5 (rouge-score). */
#include "duet/eval.h"

#include <stdlib.h>
#include <string.h>

static void push(duet_spans *out, size_t off, size_t len)
{
    if (out->n == out->cap) {
        out->cap = out->cap ? 2 * out->cap : 64;
        out->v = duet_realloc(out->v, out->cap * sizeof *out->v);
    }
    out->v[out->n].off = off;
    out->v[out->n].len = len;
    out->n++;
}

void duet_spans_free(duet_spans *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int is_ascii_punct(unsigned char c)
{
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
           (c >= 123 && c <= 126);
}

/* Third byte of the UTF-8 punctuation E2 80 xx we split off: en/em dash,
 * the eight quotation marks U+2018..U+201F, ellipsis. */
static int is_e280_punct(unsigned char c)
{
    return c == 0x93 || c == 0x94 || (c >= 0x98 && c <= 0x9F) || c == 0xA6;
}

/* Byte length of the punctuation character starting at p (0 if none). */
static size_t punct_at(const unsigned char *p, const unsigned char *end)
{
    if (p >= end)
        return 0;
    if (is_ascii_punct(p[0]))
        return 1;
    if (end - p >= 2 && p[0] == 0xC2 && (p[1] == 0xAB || p[1] == 0xBB))
        return 2; /* guillemets */
    if (end - p >= 3 && p[0] == 0xE2 && p[1] == 0x80 && is_e280_punct(p[2]))
        return 3;
    return 0;
}

/* Byte length of the punctuation character ending just before p (0 if
 * none). Lead bytes C2/E2 are never continuation bytes, so this agrees with
 * a forward scan. */
static size_t punct_before(const unsigned char *beg, const unsigned char *p)
{
    if (p - beg >= 1 && is_ascii_punct(p[-1]))
        return 1;
    if (p - beg >= 2 && p[-2] == 0xC2 && (p[-1] == 0xAB || p[-1] == 0xBB))
        return 2;
    if (p - beg >= 3 && p[-3] == 0xE2 && p[-2] == 0x80 && is_e280_punct(p[-1]))
        return 3;
    return 0;
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* Length of an apostrophe (' or U+2019) ending just before p, else 0. */
static size_t apos_before(const unsigned char *beg, const unsigned char *p)
{
    if (p - beg >= 1 && p[-1] == '\'')
        return 1;
    if (p - beg >= 3 && p[-3] == 0xE2 && p[-2] == 0x80 && p[-1] == 0x99)
        return 3;
    return 0;
}

static int ends_with_ci(const unsigned char *w, size_t n, const char *suf, size_t sl)
{
    if (n < sl)
        return 0;
    for (size_t j = 0; j < sl; j++)
        if (lower(w[n - sl + j]) != (unsigned char)suf[j])
            return 0;
    return 1;
}

/* Length of the clitic ending w[0..n) ('s 're 've 'll 'd 'm n't, any case),
 * 0 if none or if nothing would precede it. */
static size_t clitic_len(const unsigned char *w, size_t n)
{
    static const char *const tails[] = {"s", "re", "ve", "ll", "d", "m", "t"};
    for (size_t k = 0; k < sizeof tails / sizeof tails[0]; k++) {
        size_t sl = strlen(tails[k]);
        if (!ends_with_ci(w, n, tails[k], sl))
            continue;
        size_t len = sl + apos_before(w, w + n - sl);
        if (len == sl)
            continue; /* no apostrophe */
        if (tails[k][0] == 't') { /* n't: an n before the apostrophe */
            if (n < len + 1 || lower(w[n - len - 1]) != 'n')
                continue;
            len++;
        }
        if (len < n)
            return len;
    }
    return 0;
}

static void chunk(const unsigned char *s, size_t a, size_t b, duet_spans *out)
{
    size_t k;
    while (a < b && (k = punct_at(s + a, s + b)) > 0) {
        push(out, a, k);
        a += k;
    }
    size_t tail = b;
    while (tail > a && (k = punct_before(s + a, s + tail)) > 0)
        tail -= k;
    if (tail > a) {
        size_t c = clitic_len(s + a, tail - a);
        push(out, a, tail - a - c);
        if (c)
            push(out, tail - c, c);
    }
    for (size_t p = tail; p < b; p += k) {
        k = punct_at(s + p, s + b);
        push(out, p, k);
    }
}

void duet_tokenize_words(const char *text, size_t n, duet_spans *out)
{
    const unsigned char *s = (const unsigned char *)text;
    out->n = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && is_space(s[i]))
            i++;
        size_t a = i;
        while (i < n && !is_space(s[i]))
            i++;
        if (i > a)
            chunk(s, a, i, out);
    }
}

static int is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

void duet_tokenize_rouge(const char *text, size_t n, duet_spans *out)
{
    const unsigned char *s = (const unsigned char *)text;
    out->n = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && !is_alnum(s[i]))
            i++;
        size_t a = i;
        while (i < n && is_alnum(s[i]))
            i++;
        if (i > a)
            push(out, a, i - a);
    }
}
