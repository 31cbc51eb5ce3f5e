/* Shared by the file-reader harnesses: input byte 0 selects whether the
 * file's checksums are recomputed (bit 0), so most inputs reach the
 * validation behind the CRC; the rest is the file, read through a memory
 * file by hostile_consume, which must reject it naming the file or accept
 * well-formed content. */
#ifndef DUET_FUZZ_COMMON_H
#define DUET_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostile.h"

static int fuzz_file(hostile_kind k, const unsigned char *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t n = size - 1;
    unsigned char *b = malloc(n ? n : 1);
    memcpy(b, data + 1, n);
    if (data[0] & 1)
        hostile_fix_crc(k, b, n);
    const char *path = hostile_memfile(b, n);
    free(b);
    duet_err err;
    uint64_t digest;
    err.msg[0] = 0;
    int rc = hostile_consume(k, path, &digest, &err);
    if (rc == -2 || (rc == -1 && !strstr(err.msg, path))) {
        fprintf(stderr, "%s %s: %s\n", hostile_kind_name(k),
                rc == -2 ? "accepted, then misbehaved" : "error does not name the file", err.msg);
        abort();
    }
    return 0;
}

#endif
