/* ckpt_digest CKPT: prints the step and a 64-bit FNV-1a digest of every
 * training-state section (all but "config", which names run_dir and resume),
 * so integration tests can compare two runs' final states bitwise. Exits 1
 * with the reader's message if the checkpoint does not verify. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duet/ckpt.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: ckpt_digest CKPT\n");
        return 2;
    }
    duet_err err;
    duet_ckpt *h = duet_ckpt_open(argv[1], &err);
    if (!h || duet_ckpt_check(h, &err) != 0) {
        fprintf(stderr, "ckpt_digest: %s\n", err.msg);
        duet_ckpt_close(h);
        return 1;
    }
    printf("step=%lld", (long long)duet_ckpt_step(h));
    for (size_t i = 0; i < duet_ckpt_nsections(h); i++) {
        const duet_ckpt_entry *e = duet_ckpt_entry_at(h, i);
        if (strcmp(e->name, "config") == 0)
            continue;
        void *buf = NULL;
        size_t n = 0;
        if (duet_ckpt_read_alloc(h, e->name, e->raw_size, &buf, &n, &err) != 0) {
            fprintf(stderr, "ckpt_digest: %s\n", err.msg);
            duet_ckpt_close(h);
            return 1;
        }
        uint64_t d = 1469598103934665603ull;
        for (size_t k = 0; k < n; k++)
            d = (d ^ ((const unsigned char *)buf)[k]) * 1099511628211ull;
        printf(" %s=%016llx", e->name, (unsigned long long)d);
        free(buf);
    }
    printf("\n");
    duet_ckpt_close(h);
    return 0;
}
