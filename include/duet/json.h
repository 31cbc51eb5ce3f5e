/* duet/json.h — the little JSON duet needs: read string fields of one JSONL
 * object, write escaped strings. Not a general JSON library: objects must be
 * flat enough that the wanted field is a string at the top level. */
#ifndef DUET_JSON_H
#define DUET_JSON_H

#include <stddef.h>
#include <stdio.h>

#include "duet/util.h"

/* Finds the top-level string member `field` of the JSON object in
 * line[0..len) and returns its decoded UTF-8 bytes (malloc'ed, *out_len
 * excludes the terminating NUL). Returns 0 on success, 1 if the object has
 * no such member, -1 (with a message) if the line is not a valid JSON object
 * or the member is not a string. */
int duet_json_get_string(const char *line, size_t len, const char *field, char **out,
                         size_t *out_len, duet_err *err);

/* Writes s[0..n) as a quoted JSON string: quotes, backslashes and control
 * characters escaped, valid UTF-8 passed through, each invalid byte written
 * as \ufffd (JSON text must be UTF-8; model samples may not be). */
void duet_json_write_string(FILE *f, const char *s, size_t n);

#endif
