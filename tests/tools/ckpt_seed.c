/* ckpt_seed — writes a small checkpoint for the fuzz seed corpus
 * (tests/fuzz/corpus/ckpt): the config and tokenizer sections of a real
 * checkpoint, a 64-float slab and a few opaque bytes, through the real
 * writer at the given level (a real checkpoint's float slabs would make the
 * seed tens of KB).
 *
 *   ckpt_seed REAL.duet LEVEL OUT */
#include <stdio.h>
#include <stdlib.h>

#include "duet/ckpt.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: ckpt_seed REAL.duet LEVEL OUT\n");
        return 2;
    }
    duet_err err;
    duet_ckpt *h = duet_ckpt_open(argv[1], &err);
    void *config = NULL, *tok = NULL;
    size_t nconfig = 0, ntok = 0;
    if (!h || duet_ckpt_read_alloc(h, "config", 1 << 20, &config, &nconfig, &err) != 0 ||
        duet_ckpt_read_alloc(h, "tokenizer", 1 << 20, &tok, &ntok, &err) != 0) {
        fprintf(stderr, "ckpt_seed: %s\n", err.msg);
        return 1;
    }
    float slab[64];
    for (int i = 0; i < 64; i++)
        slab[i] = (float)(i % 7) * 0.25f - 0.5f;
    static const unsigned char state[12] = {1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0};
    duet_ckpt_section s[] = {{"config", config, nconfig, 1},
                             {"tokenizer", tok, ntok, 1},
                             {"params", slab, sizeof slab, 4},
                             {"train_state", state, sizeof state, 1},
                             {"empty", NULL, 0, 1}};
    duet_ckpt_meta meta = {.step = 1, .objective = duet_ckpt_objective(h)};
    int rc = duet_ckpt_write(argv[3], &meta, s, sizeof s / sizeof s[0], atoi(argv[2]), &err);
    if (rc != 0)
        fprintf(stderr, "ckpt_seed: %s\n", err.msg);
    duet_ckpt_close(h);
    free(config);
    free(tok);
    return rc ? 1 : 0;
}
