/* duet/config.h — the one configuration format of every duet binary.
 *
 * Files hold `key = value` lines and `#` comments; command-line `key=value`
 * arguments override files. Every key is declared exactly once, with type,
 * default, allowed range or choices, the binaries that use it, and one line
 * of help, in duet/config_keys.h. The resolved config is plain text that
 * round-trips through the parser (checkpoints store it).
 *
 * Errors name the source (file or "command line"), line, key and value, and
 * suggest the closest valid key for a typo.
 */
#ifndef DUET_CONFIG_H
#define DUET_CONFIG_H

#include <stdio.h>

#include "duet/util.h"

#define DUET_CFG_STR_MAX 1024

/* Which binaries read a key (a key may belong to several). */
enum {
    DUET_SCOPE_PREP = 1u << 0,
    DUET_SCOPE_TRAIN = 1u << 1,  /* also stored in checkpoints */
    DUET_SCOPE_SAMPLE = 1u << 2,
    DUET_SCOPE_EVAL = 1u << 3,
    DUET_SCOPE_BENCH = 1u << 4,
};
#define P DUET_SCOPE_PREP
#define T DUET_SCOPE_TRAIN
#define S DUET_SCOPE_SAMPLE
#define E DUET_SCOPE_EVAL
#define BN DUET_SCOPE_BENCH

/* Field types of the generated struct. */
#define DUET_CFG_CTYPE_INT int
#define DUET_CFG_CTYPE_FLOAT double
#define DUET_CFG_CTYPE_BOOL int
#define DUET_CFG_FIELD_INT(name) int name;
#define DUET_CFG_FIELD_FLOAT(name) double name;
#define DUET_CFG_FIELD_BOOL(name) int name;
#define DUET_CFG_FIELD_STR(name) char name[DUET_CFG_STR_MAX];
#define DUET_CFG_FIELD_ENUM(name) char name[64];

#include "duet/config_keys.h"

enum {
#define X(type, name, def, lo, hi, choices, scope, help) DUET_CFGK_##name,
    DUET_CONFIG_KEYS(X)
#undef X
    DUET_CONFIG_NKEYS
};

typedef struct duet_config {
#define X(type, name, def, lo, hi, choices, scope, help) DUET_CFG_FIELD_##type(name)
    DUET_CONFIG_KEYS(X)
#undef X
    /* Source ("file:line" or "command line") of each explicitly set key,
     * indexed like the key table; empty when the default is in effect. */
    char origin[DUET_CONFIG_NKEYS][128];
} duet_config;

#undef P
#undef T
#undef S
#undef E
#undef BN

/* Description of one key, for parsers, help and tests. */
typedef struct duet_config_key {
    const char *name;
    const char *type; /* "int", "float", "bool", "str", "enum" */
    const char *def;
    double lo, hi;       /* inclusive range for int/float */
    const char *choices; /* "a|b|c" for enum, else NULL */
    unsigned scope;
    const char *help;
} duet_config_key;

const duet_config_key *duet_config_keys(int *count);
const duet_config_key *duet_config_find(const char *name);

void duet_config_defaults(duet_config *c);

/* Sets one key from its text value; `source`/`line` only label errors.
 * Keys outside `scope` are rejected ("not used by this binary"). */
int duet_config_set(duet_config *c, const char *key, const char *value, const char *source,
                    int line, unsigned scope, duet_err *err);

/* Parses `key = value` text. Duplicate keys inside one text are an error. */
int duet_config_parse_text(duet_config *c, const char *text, const char *source, unsigned scope,
                           duet_err *err);
int duet_config_load_file(duet_config *c, const char *path, unsigned scope, duet_err *err);

/* Resolved config as `key = value` lines for the keys in scope. Caller frees. */
char *duet_config_to_text(const duet_config *c, unsigned scope);
void duet_config_print(const duet_config *c, unsigned scope, FILE *f);
void duet_config_help(FILE *f, unsigned scope);

/* True if a key was set explicitly (file or command line). */
int duet_config_is_set(const duet_config *c, const char *key);

/* Command-line front end shared by the tools:
 *   prog [--help] [--print-config] [CONFIG_FILE ...] [key=value ...]
 * An argument containing '=' is an override, any other non-option argument
 * a config file. Files are applied in order, then the overrides (a key
 * repeated on the command line is an error). Returns 0 to continue, 1 if
 * --help or --print-config was handled (caller exits 0), -1 on error. */
typedef struct duet_cli {
    const char *prog;
    const char *usage;    /* one-line synopsis after the program name */
    const char *summary;  /* what the program does, a few lines */
    unsigned scope;
} duet_cli;
int duet_config_from_args(duet_config *c, const duet_cli *cli, int argc, char **argv,
                          duet_err *err);

/* Levenshtein distance (used for "did you mean"), exposed for tests. */
int duet_edit_distance(const char *a, const char *b);

#endif
