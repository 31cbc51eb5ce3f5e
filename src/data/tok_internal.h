/* Shared inside src/data: the pre-tokenizer and the tokenizer constructor
 * used by both the file loader and the BPE trainer. */
#ifndef DUET_TOK_INTERNAL_H
#define DUET_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "duet/data.h"

/* Words are at most this many bytes (longer runs are cut into pieces), so a
 * token is at most this long and encoding one word is cheap. Stored in the
 * tokenizer file; changing it changes the tokenization. */
#define DUET_TOK_MAX_WORD 64
/* Version of the pre-tokenizer rules below (stored in the tokenizer file). */
#define DUET_TOK_PRETOK 1
#define DUET_TOK_NBASE (DUET_TOK_NSPECIAL + 256)

/* Byte classes of the pre-tokenizer. Bytes >= 0x80 count as letters so a
 * UTF-8 character never splits between words. */
enum { DUET_CLS_LETTER, DUET_CLS_DIGIT, DUET_CLS_SPACE, DUET_CLS_OTHER };
extern const uint8_t duet_tok_class[256];

/* Length of the first word of s[0..n), n > 0. A word is a run of one class
 * (letters, digits, other punctuation/control bytes), optionally led by one
 * space; a run of whitespace is a word of its own, except that its last
 * space attaches to a following non-space word (GPT-2 style). */
static inline size_t duet_pretok_word(const uint8_t *s, size_t n)
{
    size_t i = (s[0] == ' ' && n > 1 && duet_tok_class[s[1]] != DUET_CLS_SPACE) ? 1 : 0;
    int c = duet_tok_class[s[i]];
    i++;
    size_t max = DUET_MIN(n, (size_t)DUET_TOK_MAX_WORD);
    if (c == DUET_CLS_SPACE) {
        while (i < max && duet_tok_class[s[i]] == DUET_CLS_SPACE &&
               !(s[i] == ' ' && i + 1 < n && duet_tok_class[s[i + 1]] != DUET_CLS_SPACE))
            i++;
        return i;
    }
    while (i < max && duet_tok_class[s[i]] == c)
        i++;
    return i;
}

/* Builds a tokenizer from its merge list (pairs of ids, merge k creating id
 * DUET_TOK_NBASE + k), validating it; `what` names the source in errors. */
duet_tokenizer *duet_tok_from_merges(const uint32_t *merges, uint32_t nmerges, const char *what,
                                     duet_err *err);

#endif
