/* Synthetic text for the data tests: deterministic pseudo-English built
 * from a small word list, so suites never depend on files outside the
 * repository. */
#ifndef DUET_TEXTGEN_H
#define DUET_TEXTGEN_H

#include <stddef.h>
#include <stdint.h>

/* nlines lines of 1..max_words words (with punctuation and digits), each
 * ending in '\n'; every line is non-empty. Malloc'ed, NUL-terminated. */
char *test_gen_text(uint64_t seed, size_t nlines, int max_words, size_t *len);

#endif
