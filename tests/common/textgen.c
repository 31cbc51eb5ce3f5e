#include "textgen.h"

#include <string.h>

#include "duet/rng.h"
#include "duet/util.h"

static const char *WORDS[] = {
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with",
    "be", "by", "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but",
    "have", "an", "had", "they", "you", "were", "their", "one", "all", "we", "can", "her",
    "has", "there", "been", "if", "more", "when", "will", "would", "who", "so", "no",
    "diffusion", "model", "token", "shard", "loader", "training", "language", "sampling",
    "Paris", "London", "caf\xc3\xa9", "na\xc3\xafve", "\xe6\x97\xa5\xe6\x9c\xac", "1964",
    "3.14", "don't", "(see", "below)", "--", "\"quoted\"", "e-mail", "x",
};

char *test_gen_text(uint64_t seed, size_t nlines, int max_words, size_t *len)
{
    size_t cap = 1024, n = 0;
    char *s = duet_malloc(cap);
    duet_rng r = duet_rng_keyed(seed, 0, 0, DUET_STREAM_USER);
    for (size_t l = 0; l < nlines; l++) {
        int nw = 1 + (int)duet_rng_below(&r, (uint32_t)max_words);
        for (int w = 0; w < nw; w++) {
            /* Zipf-like: low indices far more often. */
            uint32_t a = duet_rng_below(&r, DUET_ARRAY_LEN(WORDS));
            uint32_t b = duet_rng_below(&r, DUET_ARRAY_LEN(WORDS));
            const char *word = WORDS[a < b ? a : b];
            size_t wl = strlen(word);
            if (n + wl + 8 > cap) /* word, space, comma, then ".\n" and NUL */
                s = duet_realloc(s, cap *= 2);
            if (w > 0)
                s[n++] = ' ';
            memcpy(s + n, word, wl);
            n += wl;
            if (duet_rng_below(&r, 12) == 0)
                s[n++] = ',';
        }
        s[n++] = '.';
        s[n++] = '\n';
    }
    s[n] = 0;
    *len = n;
    return s;
}
