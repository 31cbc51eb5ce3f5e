#include "duet/util.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

int duet_errf(duet_err *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int duet_err_prefix(duet_err *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    char prefix[DUET_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[DUET_ERR_MAX];
    memcpy(old, err->msg, sizeof old);
    if (snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old) >= (int)sizeof err->msg)
        memcpy(err->msg + sizeof err->msg - 4, "...", 4); /* mark the cut, never hide it */
    return -1;
}

static void default_fatal_hook(int code) { exit(code); }
static void (*fatal_hook)(int) = default_fatal_hook;

void duet_set_fatal_hook(void (*hook)(int code))
{
    fatal_hook = hook ? hook : default_fatal_hook;
}

_Noreturn void duet_fatal_at(const char *file, int line, const char *fmt, ...)
{
    fprintf(stderr, "duet: fatal: %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    fatal_hook(2);
    _Exit(2); /* hooks do not return; this keeps the promise if one does */
}

void *duet_malloc_at(const char *file, int line, size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        duet_fatal_at(file, line, "out of memory allocating %zu bytes", n);
    return p;
}

void *duet_calloc_at(const char *file, int line, size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        duet_fatal_at(file, line, "out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

void *duet_realloc_at(const char *file, int line, void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        duet_fatal_at(file, line, "out of memory reallocating to %zu bytes", n);
    return q;
}

char *duet_strdup_at(const char *file, int line, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = duet_malloc_at(file, line, n);
    memcpy(d, s, n);
    return d;
}

float *duet_falloc_at(const char *file, int line, size_t count)
{
    size_t bytes = (count ? count : 1) * sizeof(float);
    if (count > SIZE_MAX / sizeof(float))
        duet_fatal_at(file, line, "float buffer of %zu elements overflows size_t", count);
    bytes = (bytes + 63) / 64 * 64;
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes) != 0)
        duet_fatal_at(file, line, "out of memory allocating %zu floats", count);
    memset(p, 0, bytes);
    return p;
}

double duet_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int duet_strlcpy(char *dst, const char *src, size_t cap)
{
    size_t n = strlen(src);
    if (n >= cap)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

size_t duet_peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (size_t)ru.ru_maxrss * 1024u; /* Linux reports KiB */
}

uint64_t duet_hash64(const void *data, size_t n, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}
