/* duet-prep: data preparation. Subcommands:
 *   tokenizer  train the byte-level BPE tokenizer on text files
 *   shards     tokenize text files into train/val shard files
 *   stats      print what a set of shard files holds */
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "duet/config.h"
#include "duet/data.h"

static const char *USAGE =
    "usage: duet-prep COMMAND [--help] [--print-config] [CONFIG_FILE ...] [key=value ...]\n"
    "       duet-prep stats SHARD_FILE_OR_DIR ...\n"
    "\n"
    "Commands:\n"
    "  tokenizer  train a byte-level BPE tokenizer (keys: input, input_format, jsonl_field,\n"
    "             paired, vocab_size, tok_sample_mb, tokenizer)\n"
    "  shards     tokenize text into out_dir/train_NNNNN.bin and out_dir/val_00000.bin\n"
    "             (keys: input, val_input, tokenizer, out_dir, num_shards, val_fraction,\n"
    "             paired, source_field, target_field, threads, seed)\n"
    "  stats      per split: files, documents, tokens, document lengths, bytes per token\n"
    "\n"
    "`duet-prep COMMAND --help` lists every key.\n";

static int fail(const duet_err *err)
{
    fprintf(stderr, "duet-prep: error: %s\n", err->msg);
    return 1;
}

/* Comma-separated list -> array of strings (pointers into *buf). */
static const char **split_list(const char *s, int *n, char **buf)
{
    *buf = duet_strdup(s);
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    const char **v = duet_calloc(cap, sizeof *v);
    *n = 0;
    for (char *tok = strtok(*buf, ","); tok; tok = strtok(NULL, ","))
        v[(*n)++] = tok;
    return v;
}

typedef struct inputs {
    const char **paths;
    char *buf;
} inputs;

static duet_text_spec text_spec(const duet_config *c, const char *list, inputs *in)
{
    duet_text_spec s;
    memset(&s, 0, sizeof s);
    in->paths = split_list(list, &s.npaths, &in->buf);
    s.paths = in->paths;
    s.format = c->input_format;
    s.jsonl_field = c->jsonl_field;
    s.paired = c->paired;
    s.source_field = c->source_field;
    s.target_field = c->target_field;
    return s;
}

static void inputs_free(inputs *in)
{
    free(in->paths);
    free(in->buf);
}

static int need(const char *key, const char *value, duet_err *err)
{
    if (!*value)
        return duet_errf(err, "key '%s' must be set (see --help)", key);
    return 0;
}

static int parse(int argc, char **argv, const char *prog, const char *usage, const char *summary,
                 duet_config *c, duet_err *err)
{
    duet_cli cli = {prog, usage, summary, DUET_SCOPE_PREP};
    duet_config_defaults(c);
    return duet_config_from_args(c, &cli, argc, argv, err);
}

static int cmd_tokenizer(int argc, char **argv)
{
    duet_config c;
    duet_err err;
    int rc = parse(argc, argv, "duet-prep tokenizer", "[CONFIG_FILE ...] [key=value ...]",
                   "Trains a byte-level BPE tokenizer on the first tok_sample_mb MB of the input\n"
                   "documents and writes it to `tokenizer`. Deterministic for a given input\n"
                   "and vocab_size.", &c, &err);
    if (rc != 0)
        return rc < 0 ? fail(&err) : 0;
    if (need("input", c.input, &err) || need("tokenizer", c.tokenizer, &err))
        return fail(&err);
    inputs in;
    duet_text_spec spec = text_spec(&c, c.input, &in);
    duet_bpe_train_opts o = {c.vocab_size, (size_t)c.tok_sample_mb << 20, 1};
    double t0 = duet_now();
    duet_tokenizer *t = duet_tokenizer_train(&spec, &o, &err);
    inputs_free(&in);
    if (!t || duet_tokenizer_save(t, c.tokenizer, &err) != 0) {
        duet_tokenizer_free(t);
        return fail(&err);
    }
    int v = duet_tokenizer_vocab_size(t);
    printf("duet-prep: tokenizer %s: vocabulary %d (%d merges), id %08x, %.2f s, peak RSS "
           "%.1f MB\n", c.tokenizer, v, v - DUET_TOK_NSPECIAL - 256, duet_tokenizer_id(t),
           duet_now() - t0, duet_peak_rss() / 1e6);
    if (v < c.vocab_size)
        printf("duet-prep: note: the sample has too few distinct pairs for vocab_size=%d; the "
               "vocabulary has %d tokens\n", c.vocab_size, v);
    duet_tokenizer_free(t);
    return 0;
}

static int cmd_shards(int argc, char **argv)
{
    duet_config c;
    duet_err err;
    int rc = parse(argc, argv, "duet-prep shards", "[CONFIG_FILE ...] [key=value ...]",
                   "Tokenizes the input documents into out_dir/train_NNNNN.bin (num_shards files)\n"
                   "and out_dir/val_00000.bin (val_fraction of the records, chosen by a hash of\n"
                   "the record index, or all of val_input). Empty documents are skipped.", &c,
                   &err);
    if (rc != 0)
        return rc < 0 ? fail(&err) : 0;
    if (need("input", c.input, &err) || need("tokenizer", c.tokenizer, &err))
        return fail(&err);
    duet_tokenizer *t = duet_tokenizer_load(c.tokenizer, &err);
    if (!t)
        return fail(&err);
    inputs in, val;
    duet_shards_build_opts o;
    memset(&o, 0, sizeof o);
    o.in = text_spec(&c, c.input, &in);
    o.val_in = text_spec(&c, c.val_input, &val);
    o.out_dir = c.out_dir;
    o.num_shards = c.num_shards;
    o.val_fraction = o.val_in.npaths > 0 ? 0 : c.val_fraction;
    o.seed = (uint64_t)c.seed;
    o.threads = c.threads;
    o.progress = 1;
    duet_shards_report r;
    rc = duet_shards_build(&o, t, &r, &err);
    inputs_free(&in);
    inputs_free(&val);
    duet_tokenizer_free(t);
    if (rc != 0)
        return fail(&err);
    const char *unit = c.paired ? "records" : "documents";
    printf("duet-prep: shards in %s: %llu records read, %llu empty skipped; train %llu %s, "
           "%llu tokens; val %llu %s, %llu tokens\n", c.out_dir, (unsigned long long)r.records,
           (unsigned long long)r.empty, (unsigned long long)r.docs[0], unit,
           (unsigned long long)r.tokens[0], (unsigned long long)r.docs[1], unit,
           (unsigned long long)r.tokens[1]);
    printf("duet-prep: %.1f MB of text in %.2f s (%.1f MB/s), %.2f bytes/token, peak RSS %.1f "
           "MB\n", r.text_bytes / 1e6, r.seconds, r.text_bytes / 1e6 / DUET_MAX(r.seconds, 1e-9),
           (double)r.text_bytes / (double)DUET_MAX(r.tokens[0] + r.tokens[1], 1),
           duet_peak_rss() / 1e6);
    return 0;
}

/* ----------------------------------------------------------------- stats */

/* Split name of a shard path: the basename without "_NNNNN.bin". */
static void split_name(const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "%s", path);
    char *u = strrchr(out, '_');
    if (u && strlen(u) == 10 && strcmp(u + 6, ".bin") == 0)
        *u = 0;
    else if (strlen(out) > 4 && strcmp(out + strlen(out) - 4, ".bin") == 0)
        out[strlen(out) - 4] = 0;
}

typedef struct split_stats {
    char name[4096];
    int files, vocab, paired;
    uint32_t tok_id;
    uint64_t docs, tokens, text_bytes, max_len[2], sum_len[2];
} split_stats;

static void print_stats(const split_stats *s)
{
    printf("%s: files %d, %s %llu, tokens %llu, vocab %d, tokenizer %08x, bytes/token %.3f\n",
           s->name, s->files, s->paired ? "records" : "documents",
           (unsigned long long)(s->paired ? s->docs / 2 : s->docs),
           (unsigned long long)s->tokens, s->vocab, s->tok_id,
           s->tokens ? (double)s->text_bytes / (double)s->tokens : 0.0);
    for (int p = 0; p < (s->paired ? 2 : 1); p++) {
        uint64_t n = s->paired ? s->docs / 2 : s->docs;
        printf("%s: %s length in tokens: mean %.1f, max %llu\n", s->name,
               !s->paired ? "document" : p == 0 ? "source" : "target",
               n ? (double)s->sum_len[p] / (double)n : 0.0, (unsigned long long)s->max_len[p]);
    }
}

static int stats_file(const char *path, split_stats *cur, int *have, duet_err *err)
{
    char name[4096];
    split_name(path, name, sizeof name);
    duet_shard_set *s = duet_shards_open(path, 0, 0, err);
    if (!s)
        return -1;
    if (*have && strcmp(name, cur->name) != 0) {
        print_stats(cur);
        *have = 0;
    }
    if (!*have) {
        memset(cur, 0, sizeof *cur);
        snprintf(cur->name, sizeof cur->name, "%s", name);
        cur->vocab = duet_shards_vocab_size(s);
        cur->tok_id = duet_shards_tokenizer_id(s);
        cur->paired = duet_shards_paired(s);
        *have = 1;
    } else if (cur->vocab != duet_shards_vocab_size(s) ||
               cur->tok_id != duet_shards_tokenizer_id(s)) {
        duet_errf(err, "shard '%s' was made with another tokenizer than the rest of '%s'", path,
                  name);
        duet_shards_close(s);
        return -1;
    }
    cur->files++;
    uint64_t nd = duet_shards_num_docs(s);
    cur->docs += nd;
    cur->tokens += duet_shards_num_tokens(s);
    cur->text_bytes += duet_shards_text_bytes(s);
    for (uint64_t d = 0; d < nd; d++) {
        int p = cur->paired ? (int)(d % 2) : 0;
        uint64_t len = duet_shards_doc_len(s, d);
        cur->sum_len[p] += len;
        cur->max_len[p] = DUET_MAX(cur->max_len[p], len);
    }
    duet_shards_close(s);
    return 0;
}

static int cmd_stats(int argc, char **argv)
{
    duet_err err;
    if (argc < 2) {
        fprintf(stderr, "duet-prep: error: stats needs shard files or directories "
                "(duet-prep stats data/)\n");
        return 1;
    }
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            printf("usage: duet-prep stats SHARD_FILE_OR_DIR ...\n\nValidates the shard files "
                   "(a directory means its *.bin) and prints, per split\n(train, val, ...): "
                   "files, documents, tokens, document lengths, vocabulary,\ntokenizer id and "
                   "bytes of text per token.\n");
            return 0;
        }
    }
    split_stats cur;
    int have = 0;
    for (int a = 1; a < argc; a++) {
        struct stat st;
        if (stat(argv[a], &st) == 0 && S_ISDIR(st.st_mode)) {
            char pat[4200];
            snprintf(pat, sizeof pat, "%s/*.bin", argv[a]);
            glob_t g;
            if (glob(pat, 0, NULL, &g) != 0) {
                duet_errf(&err, "no shard files (*.bin) in '%s'", argv[a]);
                return fail(&err);
            }
            for (size_t i = 0; i < g.gl_pathc; i++) {
                if (stats_file(g.gl_pathv[i], &cur, &have, &err) != 0) {
                    globfree(&g);
                    return fail(&err);
                }
            }
            globfree(&g);
        } else if (stats_file(argv[a], &cur, &have, &err) != 0) {
            return fail(&err);
        }
    }
    if (have)
        print_stats(&cur);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "tokenizer") == 0)
        return cmd_tokenizer(argc - 1, argv + 1);
    if (strcmp(cmd, "shards") == 0)
        return cmd_shards(argc - 1, argv + 1);
    if (strcmp(cmd, "stats") == 0)
        return cmd_stats(argc - 1, argv + 1);
    fprintf(stderr, "duet-prep: error: unknown command '%s' (tokenizer, shards, stats; try "
            "--help)\n", cmd);
    return 1;
}
