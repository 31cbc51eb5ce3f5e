/* Reconstruction quality of a trained vqae (issue 7 evidence).
 *   vq_recon CKPT SHARDS [N_SEQ] [N_SHOW]
 * Encodes N_SEQ (default 256) windows of SHARDS (e.g. the validation split,
 * never seen in training) to top and bottom codes, decodes them, and prints
 * one JSON line: token accuracy of the argmax reconstruction, the fraction of
 * positions whose token equals its predecessor in the reconstruction and in
 * the input (a decoder that copies one code's token over its K1 span shows a
 * much higher rate than the input), codebook perplexity and codes in use.
 * The first N_SHOW (default 3) pairs of texts go to stderr. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/objectives/vqae.h"
#include "duet/data.h"
#include "duet/sampler.h"

static double usage(const int32_t *codes, size_t n, int K, int *used)
{
    double *cnt = calloc((size_t)K, sizeof(double)), h = 0.0;
    for (size_t i = 0; i < n; i++)
        cnt[codes[i]] += 1.0;
    *used = 0;
    for (int k = 0; k < K; k++)
        if (cnt[k] > 0) {
            (*used)++;
            h -= cnt[k] / n * log(cnt[k] / n);
        }
    free(cnt);
    return exp(h);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: vq_recon CKPT SHARDS [N_SEQ] [N_SHOW]\n");
        return 2;
    }
    int nseq = argc > 3 ? atoi(argv[3]) : 256, nshow = argc > 4 ? atoi(argv[4]) : 3, B = 32;
    duet_err err;
    duet_model m;
    if (duet_model_load(&m, argv[1], 0, B, &err) != 0 || strcmp(m.cfg.objective, "vqae") != 0) {
        fprintf(stderr, "vq_recon: %s\n", strcmp(m.cfg.objective, "vqae") ? "not a vqae checkpoint" : err.msg);
        return 1;
    }
    vqae_shape s = vqae_get_shape(m.obj);
    duet_shard_set *set = duet_shards_open(argv[2], s.V, duet_tokenizer_id(m.tok), &err);
    duet_loader_config lc = {s.L, 0, DUET_DATA_PACKED, 1};
    duet_loader *l = set ? duet_loader_create(set, &lc, &err) : NULL;
    if (!l) {
        fprintf(stderr, "vq_recon: %s\n", err.msg);
        return 1;
    }
    int32_t *tok = malloc((size_t)B * s.L * sizeof(int32_t)), *rec = malloc((size_t)B * s.L * sizeof(int32_t));
    int32_t *ct = malloc((size_t)nseq * s.Lt * sizeof(int32_t)), *cb = malloc((size_t)nseq * s.Lb * sizeof(int32_t));
    double correct = 0, total = 0, rep_rec = 0, rep_in = 0, pairs = 0;
    int shown = 0;
    for (int start = 0; start < nseq; start += B) {
        int nb = nseq - start < B ? nseq - start : B;
        duet_loader_batch(l, (uint64_t)start, 0, 0, 1, nb, tok, NULL);
        int32_t *t = ct + (size_t)start * s.Lt, *b = cb + (size_t)start * s.Lb;
        vqae_encode(m.obj, m.W, tok, nb, t, b);
        const float *lg = vqae_decode(m.obj, m.W, t, b, nb);
        for (size_t i = 0; i < (size_t)nb * s.L; i++) {
            int best = 0;
            for (int v = 1; v < s.V; v++)
                if (v != DUET_TOK_MASK && lg[i * s.V + v] > lg[i * s.V + best])
                    best = v;
            rec[i] = best;
            correct += best == tok[i];
            total += 1;
            if (i % s.L) {
                rep_rec += rec[i] == rec[i - 1];
                rep_in += tok[i] == tok[i - 1];
                pairs += 1;
            }
        }
        for (int r = 0; r < nb && shown < nshow; r++, shown++) {
            char *a = duet_tokens_to_text(m.tok, tok + (size_t)r * s.L, s.L, NULL);
            char *c = duet_tokens_to_text(m.tok, rec + (size_t)r * s.L, s.L, NULL);
            fprintf(stderr, "input:         %s\nreconstructed: %s\n\n", a, c);
            free(a);
            free(c);
        }
    }
    int ut, ub;
    double pt = usage(ct, (size_t)nseq * s.Lt, s.Kt, &ut), pb = usage(cb, (size_t)nseq * s.Lb, s.Kb, &ub);
    printf("{\"bench\":\"vq_recon\",\"ckpt_step\":%lld,\"K1\":%d,\"K2\":%d,\"Kt\":%d,\"Kb\":%d,"
           "\"sequences\":%d,\"token_acc\":%.4f,\"repeat_rate_recon\":%.4f,\"repeat_rate_input\":%.4f,"
           "\"ppl_t\":%.1f,\"used_t\":%d,\"ppl_b\":%.1f,\"used_b\":%d}\n",
           (long long)m.step, s.K1, s.K2, s.Kt, s.Kb, nseq, correct / total, rep_rec / pairs,
           rep_in / pairs, pt, ut, pb, ub);
    free(tok);
    free(rec);
    free(ct);
    free(cb);
    duet_loader_free(l);
    duet_shards_close(set);
    duet_model_free(&m);
    return 0;
}
