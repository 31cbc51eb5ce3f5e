/* libFuzzer harness: the config parser. Input is config-file text. A parse
 * error must name the source; an accepted config must round-trip: its
 * resolved text parses again to the same resolved text (checkpoints rely on
 * it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duet/config.h"

#define ALL_SCOPES \
    (DUET_SCOPE_PREP | DUET_SCOPE_TRAIN | DUET_SCOPE_SAMPLE | DUET_SCOPE_EVAL | DUET_SCOPE_BENCH)

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static duet_config c, c2; /* large: keep them off the stack */
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    duet_err err;
    duet_config_defaults(&c);
    if (duet_config_parse_text(&c, text, "fuzz.conf", ALL_SCOPES, &err) == 0) {
        char *once = duet_config_to_text(&c, ALL_SCOPES);
        duet_config_defaults(&c2);
        if (duet_config_parse_text(&c2, once, "resolved", ALL_SCOPES, &err) != 0) {
            fprintf(stderr, "resolved config does not parse: %s\n%s", err.msg, once);
            abort();
        }
        char *twice = duet_config_to_text(&c2, ALL_SCOPES);
        if (strcmp(once, twice) != 0) {
            fprintf(stderr, "resolved config does not round-trip:\n%s\n---\n%s", once, twice);
            abort();
        }
        free(once);
        free(twice);
    } else if (!strstr(err.msg, "fuzz.conf")) {
        fprintf(stderr, "error does not name the source: %s\n", err.msg);
        abort();
    }
    free(text);
    return 0;
}
