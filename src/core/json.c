/* Minimal JSON object reader and string writer (see duet/json.h). */
#include "duet/json.h"

#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

typedef struct cursor {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n'))
        c->p++;
}

static int hex4(const char *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char ch = p[i];
        unsigned d;
        if (ch >= '0' && ch <= '9') d = (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f') d = (unsigned)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F') d = (unsigned)(ch - 'A' + 10);
        else return -1;
        *v = *v * 16 + d;
    }
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Parses a string at c->p (which must be '"'). If out is non-NULL, decodes
 * into it (capacity >= raw length suffices: escapes never grow). */
static int parse_string(cursor *c, char *out, size_t *out_len)
{
    if (c->p >= c->end || *c->p != '"')
        return -1;
    c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != '"') {
        unsigned char ch = (unsigned char)*c->p;
        if (ch < 0x20)
            return -1; /* raw control characters are not allowed in JSON strings */
        if (ch != '\\') {
            if (out) out[n] = (char)ch;
            n++;
            c->p++;
            continue;
        }
        if (c->end - c->p < 2)
            return -1;
        char e = c->p[1];
        c->p += 2;
        char simple = 0;
        switch (e) {
        case '"': simple = '"'; break;
        case '\\': simple = '\\'; break;
        case '/': simple = '/'; break;
        case 'b': simple = '\b'; break;
        case 'f': simple = '\f'; break;
        case 'n': simple = '\n'; break;
        case 'r': simple = '\r'; break;
        case 't': simple = '\t'; break;
        case 'u': break;
        default: return -1;
        }
        if (simple) {
            if (out) out[n] = simple;
            n++;
            continue;
        }
        unsigned cp;
        if (c->end - c->p < 4 || hex4(c->p, &cp) != 0)
            return -1;
        c->p += 4;
        if (cp >= 0xD800 && cp < 0xDC00) {
            unsigned lo;
            if (c->end - c->p >= 6 && c->p[0] == '\\' && c->p[1] == 'u' &&
                hex4(c->p + 2, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                c->p += 6;
            } else {
                cp = 0xFFFD; /* lone high surrogate */
            }
        } else if (cp >= 0xDC00 && cp < 0xE000) {
            cp = 0xFFFD; /* lone low surrogate */
        }
        char buf[4];
        size_t k = put_utf8(buf, cp);
        if (out) memcpy(out + n, buf, k);
        n += k;
    }
    if (c->p >= c->end)
        return -1;
    c->p++; /* closing quote */
    if (out_len)
        *out_len = n;
    return 0;
}

static int skip_value(cursor *c, int depth);

static int skip_container(cursor *c, int depth, char open, char close)
{
    if (depth > MAX_DEPTH)
        return -1;
    c->p++; /* open */
    skip_ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return 0;
    }
    for (;;) {
        skip_ws(c);
        if (open == '{') {
            if (parse_string(c, NULL, NULL) != 0)
                return -1;
            skip_ws(c);
            if (c->p >= c->end || *c->p != ':')
                return -1;
            c->p++;
            skip_ws(c);
        }
        if (skip_value(c, depth + 1) != 0)
            return -1;
        skip_ws(c);
        if (c->p >= c->end)
            return -1;
        if (*c->p == ',') {
            c->p++;
            continue;
        }
        if (*c->p == close) {
            c->p++;
            return 0;
        }
        return -1;
    }
}

static int skip_literal(cursor *c, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
        return -1;
    c->p += n;
    return 0;
}

static int skip_number(cursor *c)
{
    const char *s = c->p;
    if (c->p < c->end && *c->p == '-')
        c->p++;
    int digits = 0;
    while (c->p < c->end && ((*c->p >= '0' && *c->p <= '9') || *c->p == '.' || *c->p == 'e' ||
                             *c->p == 'E' || *c->p == '+' || *c->p == '-')) {
        digits += (*c->p >= '0' && *c->p <= '9');
        c->p++;
    }
    return (digits > 0 && c->p > s) ? 0 : -1;
}

static int skip_value(cursor *c, int depth)
{
    if (c->p >= c->end)
        return -1;
    switch (*c->p) {
    case '"': return parse_string(c, NULL, NULL);
    case '{': return skip_container(c, depth, '{', '}');
    case '[': return skip_container(c, depth, '[', ']');
    case 't': return skip_literal(c, "true");
    case 'f': return skip_literal(c, "false");
    case 'n': return skip_literal(c, "null");
    default: return skip_number(c);
    }
}

/* The parser proper: may leave *out allocated on an error, so the public
 * function below owns the freeing. */
static int get_string(const char *line, size_t len, const char *field, char **out,
                      size_t *out_len, duet_err *err)
{
    cursor c = {line, line + len};
    skip_ws(&c);
    if (c.p >= c.end || *c.p != '{')
        return duet_errf(err, "not a JSON object (expected '{')");
    c.p++;
    size_t flen = strlen(field);
    int found = 0;
    skip_ws(&c);
    if (c.p < c.end && *c.p == '}') {
        c.p++;
    } else {
        for (;;) {
            skip_ws(&c);
            const char *kstart = c.p;
            size_t klen = 0;
            char *key = duet_malloc((size_t)(c.end - c.p) + 1);
            int rc = parse_string(&c, key, &klen);
            int match = rc == 0 && klen == flen && memcmp(key, field, flen) == 0;
            free(key);
            skip_ws(&c);
            if (rc != 0 || c.p >= c.end || *c.p != ':') {
                if (found) { /* a later member is broken: drop the value */
                    free(*out);
                    *out = NULL;
                }
                return rc != 0 ? duet_errf(err, "malformed JSON object key at byte %zu",
                                           (size_t)(kstart - line))
                               : duet_errf(err, "malformed JSON: expected ':' at byte %zu",
                                           (size_t)(c.p - line));
            }
            c.p++;
            skip_ws(&c);
            if (match && !found) {
                if (c.p >= c.end || *c.p != '"')
                    return duet_errf(err, "JSON member '%s' is not a string", field);
                cursor probe = c;
                if (parse_string(&probe, NULL, NULL) != 0)
                    return duet_errf(err, "malformed JSON string in member '%s'", field);
                size_t cap = (size_t)(probe.p - c.p) + 1;
                *out = duet_malloc(cap);
                size_t n = 0;
                parse_string(&c, *out, &n);
                (*out)[n] = 0;
                if (out_len)
                    *out_len = n;
                found = 1;
            } else if (skip_value(&c, 1) != 0) {
                return duet_errf(err, "malformed JSON value at byte %zu", (size_t)(c.p - line));
            }
            skip_ws(&c);
            if (c.p < c.end && *c.p == ',') {
                c.p++;
                continue;
            }
            if (c.p < c.end && *c.p == '}') {
                c.p++;
                break;
            }
            return duet_errf(err, "malformed JSON: expected ',' or '}' at byte %zu",
                             (size_t)(c.p - line));
        }
    }
    skip_ws(&c);
    if (c.p != c.end)
        return duet_errf(err, "trailing text after the JSON object at byte %zu",
                         (size_t)(c.p - line));
    return found ? 0 : 1;
}

int duet_json_get_string(const char *line, size_t len, const char *field, char **out,
                         size_t *out_len, duet_err *err)
{
    char *s = NULL;
    int rc = get_string(line, len, field, &s, out_len, err);
    if (rc == 0)
        *out = s;
    else
        free(s);
    return rc;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp < 0xE000))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0; /* overlong, surrogate or out of range */
    return len;
}

void duet_json_write_string(FILE *f, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned char ch = u[i];
        size_t k = utf8_len(u + i, n - i);
        if (k == 0) { /* invalid byte: JSON must be UTF-8 */
            fputs("\\ufffd", f);
            i++;
            continue;
        }
        if (k > 1) {
            fwrite(u + i, 1, k, f);
            i += k;
            continue;
        }
        switch (ch) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (ch < 0x20 || ch == 0x7F)
                fprintf(f, "\\u%04x", ch);
            else
                fputc(ch, f);
        }
        i++;
    }
    fputc('"', f);
}
