/* duet/util.h — error reporting, checked allocation, timing.
 *
 * Owns the two error paths every module uses:
 *   - recoverable errors (bad input files, configs, checkpoints): a function
 *     returns a nonzero int and fills a duet_err with a message that names the
 *     file / key / value; only a tool's main decides to exit.
 *   - fatal errors (out of memory, broken invariants): duet_fatal prints
 *     file:line and calls the fatal hook (MPI_Abort when the dist module is
 *     initialised, so one rank's failure never leaves the others hanging).
 */
#ifndef DUET_UTIL_H
#define DUET_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define DUET_ERR_MAX 1024

typedef struct duet_err {
    char msg[DUET_ERR_MAX];
} duet_err;

/* Writes a printf-style message into err (if err is non-NULL) and returns -1,
 * so callers can write `return duet_errf(err, "...", ...);`. */
int duet_errf(duet_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefixes an existing message: "<prefix>: <old message>". Returns -1. */
int duet_err_prefix(duet_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Fatal error: prints "duet: fatal: file:line: message" to stderr and calls the
 * fatal hook (default: exit(2)). Never returns. */
_Noreturn void duet_fatal_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define duet_fatal(...) duet_fatal_at(__FILE__, __LINE__, __VA_ARGS__)

/* Installed by the dist module so a fatal error aborts every rank. */
void duet_set_fatal_hook(void (*hook)(int code));

/* Checked allocation: fatal (with file:line and the size) on failure.
 * Zero-size requests return a valid unique pointer. */
void *duet_malloc_at(const char *file, int line, size_t n);
void *duet_calloc_at(const char *file, int line, size_t count, size_t size);
void *duet_realloc_at(const char *file, int line, void *p, size_t n);
char *duet_strdup_at(const char *file, int line, const char *s);
#define duet_malloc(n) duet_malloc_at(__FILE__, __LINE__, (n))
#define duet_calloc(c, s) duet_calloc_at(__FILE__, __LINE__, (c), (s))
#define duet_realloc(p, n) duet_realloc_at(__FILE__, __LINE__, (p), (n))
#define duet_strdup(s) duet_strdup_at(__FILE__, __LINE__, (s))

/* 64-byte aligned, zero-filled float buffer (for SIMD-friendly slabs). */
float *duet_falloc_at(const char *file, int line, size_t count);
#define duet_falloc(n) duet_falloc_at(__FILE__, __LINE__, (n))

/* Monotonic wall clock in seconds. */
double duet_now(void);

/* Copies src into dst[cap]; returns -1 (and copies nothing) if it does not
 * fit, so callers never truncate silently. */
int duet_strlcpy(char *dst, const char *src, size_t cap);

/* Peak resident set size of this process in bytes (0 if unknown). */
size_t duet_peak_rss(void);

/* FNV-1a 64-bit hash of a byte string (names, n-grams, checksums). */
uint64_t duet_hash64(const void *data, size_t n, uint64_t seed);

#define DUET_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define DUET_MIN(a, b) ((a) < (b) ? (a) : (b))
#define DUET_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
