/* Table-driven `key = value` configuration (see duet/config.h). */
#include "duet/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define P DUET_SCOPE_PREP
#define T DUET_SCOPE_TRAIN
#define S DUET_SCOPE_SAMPLE
#define E DUET_SCOPE_EVAL
#define BN DUET_SCOPE_BENCH

static const duet_config_key KEYS[] = {
#define TYPENAME_INT "int"
#define TYPENAME_FLOAT "float"
#define TYPENAME_BOOL "bool"
#define TYPENAME_STR "str"
#define TYPENAME_ENUM "enum"
#define X(type, name, def, lo, hi, choices, scope, help) \
    {#name, TYPENAME_##type, def, (double)(lo), (double)(hi), choices, (unsigned)(scope), help},
    DUET_CONFIG_KEYS(X)
#undef X
};

/* Byte offset of each field in duet_config, indexed like KEYS. */
static const size_t OFFSETS[] = {
#define X(type, name, def, lo, hi, choices, scope, help) offsetof(duet_config, name),
    DUET_CONFIG_KEYS(X)
#undef X
};

static const size_t FIELD_SIZES[] = {
#define X(type, name, def, lo, hi, choices, scope, help) sizeof(((duet_config *)0)->name),
    DUET_CONFIG_KEYS(X)
#undef X
};

#undef P
#undef T
#undef S
#undef E
#undef BN

const duet_config_key *duet_config_keys(int *count)
{
    if (count)
        *count = DUET_CONFIG_NKEYS;
    return KEYS;
}

static int key_index(const char *name)
{
    for (int i = 0; i < DUET_CONFIG_NKEYS; i++)
        if (strcmp(KEYS[i].name, name) == 0)
            return i;
    return -1;
}

const duet_config_key *duet_config_find(const char *name)
{
    int i = key_index(name);
    return i < 0 ? NULL : &KEYS[i];
}

int duet_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 255 || lb > 255)
        return 1 << 20;
    int prev[256], cur[256];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = DUET_MIN(sub, DUET_MIN(del, ins));
        }
        memcpy(prev, cur, sizeof(int) * (lb + 1));
    }
    return prev[lb];
}

/* Closest key in scope, or NULL if nothing is reasonably close. */
static const char *suggest(const char *name, unsigned scope)
{
    const char *best = NULL;
    int best_d = 1 << 20;
    for (int i = 0; i < DUET_CONFIG_NKEYS; i++) {
        if (!(KEYS[i].scope & scope))
            continue;
        int d = duet_edit_distance(name, KEYS[i].name);
        if (d < best_d) {
            best_d = d;
            best = KEYS[i].name;
        }
    }
    int limit = DUET_MAX(2, (int)strlen(name) / 3);
    return best_d <= limit ? best : NULL;
}

static int parse_bool(const char *v, int *out)
{
    static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < DUET_ARRAY_LEN(yes); i++) {
        if (strcmp(v, yes[i]) == 0) { *out = 1; return 0; }
        if (strcmp(v, no[i]) == 0) { *out = 0; return 0; }
    }
    return -1;
}

static int choice_ok(const char *choices, const char *v)
{
    size_t n = strlen(v);
    const char *p = choices;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0)
            return 1;
        if (!bar)
            break;
        p = bar + 1;
    }
    return 0;
}

static int set_index(duet_config *c, int i, const char *value, const char *where, duet_err *err)
{
    const duet_config_key *k = &KEYS[i];
    char *field = (char *)c + OFFSETS[i];
    if (strcmp(k->type, "int") == 0) {
        errno = 0;
        char *end = NULL;
        long long v = strtoll(value, &end, 10);
        if (!*value || *end || errno)
            return duet_errf(err, "%s: key '%s' value '%s' is not an integer", where, k->name, value);
        if ((double)v < k->lo || (double)v > k->hi)
            return duet_errf(err, "%s: key '%s' value '%s' is out of range [%.0f, %.0f]", where,
                             k->name, value, k->lo, k->hi);
        *(int *)field = (int)v;
    } else if (strcmp(k->type, "float") == 0) {
        errno = 0;
        char *end = NULL;
        double v = strtod(value, &end);
        if (!*value || *end || errno || !isfinite(v))
            return duet_errf(err, "%s: key '%s' value '%s' is not a finite number", where, k->name,
                             value);
        if (v < k->lo || v > k->hi)
            return duet_errf(err, "%s: key '%s' value '%s' is out of range [%g, %g]", where,
                             k->name, value, k->lo, k->hi);
        *(double *)field = v;
    } else if (strcmp(k->type, "bool") == 0) {
        if (parse_bool(value, (int *)field) != 0)
            return duet_errf(err, "%s: key '%s' value '%s' is not a boolean (use 0/1, true/false)",
                             where, k->name, value);
    } else if (strcmp(k->type, "enum") == 0) {
        if (!choice_ok(k->choices, value))
            return duet_errf(err, "%s: key '%s' value '%s' is not one of %s", where, k->name,
                             value, k->choices);
        if (duet_strlcpy(field, value, FIELD_SIZES[i]) != 0)
            return duet_errf(err, "%s: key '%s' value too long", where, k->name);
    } else {
        if (duet_strlcpy(field, value, FIELD_SIZES[i]) != 0)
            return duet_errf(err, "%s: key '%s' value is %zu bytes, longer than the limit %zu",
                             where, k->name, strlen(value), FIELD_SIZES[i] - 1);
    }
    return 0;
}

void duet_config_defaults(duet_config *c)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < DUET_CONFIG_NKEYS; i++)
        if (set_index(c, i, KEYS[i].def, "default", NULL) != 0)
            duet_fatal("default of config key '%s' ('%s') is invalid", KEYS[i].name, KEYS[i].def);
}

static int set_checked(duet_config *c, const char *key, const char *value, const char *where,
                       unsigned scope, duet_err *err)
{
    int i = key_index(key);
    if (i < 0 || !(KEYS[i].scope & scope)) {
        const char *s = suggest(key, scope);
        const char *what = i < 0 ? "unknown key" : "key not used by this program:";
        if (s)
            return duet_errf(err, "%s: %s '%s' (value '%s'); did you mean '%s'?", where, what, key,
                             value, s);
        return duet_errf(err, "%s: %s '%s' (value '%s')", where, what, key, value);
    }
    if (set_index(c, i, value, where, err) != 0)
        return -1;
    snprintf(c->origin[i], sizeof c->origin[i], "%s", where);
    return i;
}

int duet_config_set(duet_config *c, const char *key, const char *value, const char *source,
                    int line, unsigned scope, duet_err *err)
{
    char where[256];
    if (line > 0)
        snprintf(where, sizeof where, "%s:%d", source, line);
    else
        snprintf(where, sizeof where, "%s", source);
    return set_checked(c, key, value, where, scope, err) < 0 ? -1 : 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = 0;
    return s;
}

/* Parses a value: a quoted string with \" \\ \n \t escapes, or bare text up
 * to an unquoted '#'. Writes into out (same size as the line). */
static int parse_value(char *v, char *out, const char *where, const char *key, duet_err *err)
{
    v = trim(v);
    if (*v != '"') {
        char *hash = strchr(v, '#');
        if (hash)
            *hash = 0;
        strcpy(out, trim(v));
        return 0;
    }
    char *o = out;
    char *p = v + 1;
    for (; *p && *p != '"'; p++) {
        if (*p == '\\') {
            p++;
            switch (*p) {
            case 'n': *o++ = '\n'; break;
            case 't': *o++ = '\t'; break;
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            default:
                return duet_errf(err, "%s: key '%s': bad escape '\\%c' in quoted value", where,
                                 key, *p ? *p : ' ');
            }
        } else {
            *o++ = *p;
        }
    }
    if (*p != '"')
        return duet_errf(err, "%s: key '%s': unterminated quoted value", where, key);
    *o = 0;
    char *rest = trim(p + 1);
    if (*rest && *rest != '#')
        return duet_errf(err, "%s: key '%s': unexpected text after quoted value: '%s'", where, key,
                         rest);
    return 0;
}

int duet_config_parse_text(duet_config *c, const char *text, const char *source, unsigned scope,
                           duet_err *err)
{
    int seen_line[DUET_CONFIG_NKEYS] = {0};
    size_t cap = strlen(text) + 1;
    char *line = duet_malloc(cap), *val = duet_malloc(cap);
    int rc = 0, lineno = 0;
    const char *p = text;
    while (*p && rc == 0) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        memcpy(line, p, len);
        line[len] = 0;
        p = nl ? nl + 1 : p + len;
        lineno++;
        char where[256];
        snprintf(where, sizeof where, "%s:%d", source, lineno);
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = duet_errf(err, "%s: expected 'key = value', got '%s'", where, s);
            break;
        }
        *eq = 0;
        char *key = trim(s);
        if (!*key) {
            rc = duet_errf(err, "%s: missing key before '='", where);
            break;
        }
        if (parse_value(eq + 1, val, where, key, err) != 0) {
            rc = -1;
            break;
        }
        int i = set_checked(c, key, val, where, scope, err);
        if (i < 0) {
            rc = -1;
            break;
        }
        if (seen_line[i]) {
            rc = duet_errf(err, "%s: duplicate key '%s' (value '%s'); first set on line %d", where,
                           key, val, seen_line[i]);
            break;
        }
        seen_line[i] = lineno;
    }
    free(line);
    free(val);
    return rc;
}

int duet_config_load_file(duet_config *c, const char *path, unsigned scope, duet_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return duet_errf(err, "cannot open config file '%s': %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = duet_malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) {
            if (cap > ((size_t)64 << 20)) {
                fclose(f);
                free(buf);
                return duet_errf(err, "config file '%s' is larger than 64 MB", path);
            }
            cap *= 2;
            buf = duet_realloc(buf, cap);
        }
    }
    int bad = ferror(f);
    fclose(f);
    buf[n] = 0;
    if (bad) {
        free(buf);
        return duet_errf(err, "error reading config file '%s'", path);
    }
    if (memchr(buf, 0, n)) {
        free(buf);
        return duet_errf(err, "config file '%s' contains NUL bytes (not a text file?)", path);
    }
    int rc = duet_config_parse_text(c, buf, path, scope, err);
    free(buf);
    return rc;
}

/* Appends the text form of key i to *buf (growing it). */
static void append_value(char **buf, size_t *len, size_t *cap, const duet_config *c, int i)
{
    const duet_config_key *k = &KEYS[i];
    const char *field = (const char *)c + OFFSETS[i];
    char tmp[64];
    const char *s = tmp;
    int quote = 0;
    if (strcmp(k->type, "int") == 0)
        snprintf(tmp, sizeof tmp, "%d", *(const int *)field);
    else if (strcmp(k->type, "float") == 0)
        snprintf(tmp, sizeof tmp, "%.17g", *(const double *)field);
    else if (strcmp(k->type, "bool") == 0)
        snprintf(tmp, sizeof tmp, "%d", *(const int *)field);
    else {
        s = field;
        quote = strcmp(k->type, "str") == 0;
    }
    size_t need = strlen(k->name) + 2 * strlen(s) + 16;
    if (*len + need >= *cap) {
        *cap = (*cap + need) * 2;
        *buf = duet_realloc(*buf, *cap);
    }
    char *o = *buf + *len;
    o += sprintf(o, "%s = ", k->name);
    if (quote)
        *o++ = '"';
    for (const char *q = s; *q; q++) {
        if (quote && (*q == '"' || *q == '\\')) {
            *o++ = '\\';
            *o++ = *q;
        } else if (quote && *q == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else if (quote && *q == '\t') {
            *o++ = '\\';
            *o++ = 't';
        } else {
            *o++ = *q;
        }
    }
    if (quote)
        *o++ = '"';
    *o++ = '\n';
    *o = 0;
    *len = (size_t)(o - *buf);
}

char *duet_config_to_text(const duet_config *c, unsigned scope)
{
    size_t cap = 4096, len = 0;
    char *buf = duet_malloc(cap);
    buf[0] = 0;
    for (int i = 0; i < DUET_CONFIG_NKEYS; i++)
        if (KEYS[i].scope & scope)
            append_value(&buf, &len, &cap, c, i);
    return buf;
}

void duet_config_print(const duet_config *c, unsigned scope, FILE *f)
{
    char *t = duet_config_to_text(c, scope);
    fputs(t, f);
    free(t);
}

void duet_config_help(FILE *f, unsigned scope)
{
    for (int i = 0; i < DUET_CONFIG_NKEYS; i++) {
        const duet_config_key *k = &KEYS[i];
        if (!(k->scope & scope))
            continue;
        fprintf(f, "  %-20s %s", k->name, k->help);
        if (k->choices)
            fprintf(f, " {%s}", k->choices);
        else if (strcmp(k->type, "int") == 0)
            fprintf(f, " [int %.0f..%.0f]", k->lo, k->hi);
        else if (strcmp(k->type, "float") == 0)
            fprintf(f, " [float %g..%g]", k->lo, k->hi);
        else if (strcmp(k->type, "bool") == 0)
            fprintf(f, " [bool]");
        fprintf(f, " (default: %s)\n", *k->def ? k->def : "\"\"");
    }
}

int duet_config_is_set(const duet_config *c, const char *key)
{
    int i = key_index(key);
    return i >= 0 && c->origin[i][0] != 0;
}

int duet_config_from_args(duet_config *c, const duet_cli *cli, int argc, char **argv,
                          duet_err *err)
{
    int want_help = 0, want_print = 0;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0)
            want_help = 1;
        else if (strcmp(argv[a], "--print-config") == 0)
            want_print = 1;
        else if (argv[a][0] == '-')
            return duet_errf(err, "unknown option '%s' (try --help)", argv[a]);
    }
    if (want_help) {
        printf("usage: %s %s\n\n%s\n\n", cli->prog, cli->usage, cli->summary);
        printf("  --help               print this help and exit\n");
        printf("  --print-config       print the resolved configuration and exit\n\n");
        printf("Configuration keys (in CONFIG files as 'key = value', or as key=value arguments):\n");
        duet_config_help(stdout, cli->scope);
        return 1;
    }
    /* Files first, in order. */
    for (int a = 1; a < argc; a++) {
        if (argv[a][0] == '-' || strchr(argv[a], '='))
            continue;
        if (duet_config_load_file(c, argv[a], cli->scope, err) != 0)
            return -1;
    }
    /* Then command-line overrides; a key given twice there is an error. */
    int seen[DUET_CONFIG_NKEYS] = {0};
    for (int a = 1; a < argc; a++) {
        char *eq = strchr(argv[a], '=');
        if (argv[a][0] == '-' || !eq)
            continue;
        size_t klen = (size_t)(eq - argv[a]);
        char key[128];
        if (klen == 0 || klen >= sizeof key)
            return duet_errf(err, "command line: bad argument '%s' (expected key=value)", argv[a]);
        memcpy(key, argv[a], klen);
        key[klen] = 0;
        int i = set_checked(c, key, eq + 1, "command line", cli->scope, err);
        if (i < 0)
            return -1;
        if (seen[i])
            return duet_errf(err, "command line: duplicate key '%s' (value '%s')", key, eq + 1);
        seen[i] = 1;
    }
    if (want_print) {
        duet_config_print(c, cli->scope, stdout);
        return 1;
    }
    return 0;
}
