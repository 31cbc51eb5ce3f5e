/* JSONL field extraction and string writing. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "duet/json.h"

static int get(const char *line, const char *field, char **out)
{
    duet_err err;
    size_t n;
    return duet_json_get_string(line, strlen(line), field, out, &n, &err);
}

START_TEST(extracts_string_members)
{
    char *s = NULL;
    ck_assert_int_eq(get("{\"id\": 3, \"meta\": {\"text\": \"no\"}, \"text\": \"a\\\"b\\\\c\\nd\"}", "text", &s), 0);
    ck_assert_str_eq(s, "a\"b\\c\nd");
    free(s);
    ck_assert_int_eq(get("{\"text\":\"caf\\u00e9 \\ud83d\\ude00\"}", "text", &s), 0);
    ck_assert_str_eq(s, "caf\xc3\xa9 \xf0\x9f\x98\x80");
    free(s);
    ck_assert_int_eq(get("  {\"a\": [1, 2.5e3, true, null, {\"b\": []}], \"text\": \"\"} ", "text", &s), 0);
    ck_assert_str_eq(s, "");
    free(s);
}
END_TEST

START_TEST(missing_and_malformed)
{
    char *s = NULL;
    ck_assert_int_eq(get("{\"other\": \"x\"}", "text", &s), 1);
    ck_assert_int_eq(get("{}", "text", &s), 1);
    ck_assert_int_eq(get("{\"text\": 5}", "text", &s), -1);
    ck_assert_int_eq(get("[\"text\"]", "text", &s), -1);
    ck_assert_int_eq(get("{\"text\": \"open", "text", &s), -1);
    ck_assert_int_eq(get("{\"text\": \"x\"} trailing", "text", &s), -1);
    ck_assert_int_eq(get("{\"text\": \"x\", }", "text", &s), -1);
    ck_assert_int_eq(get("{\"text\": \"bad \\q\"}", "text", &s), -1);
}
END_TEST

START_TEST(writes_valid_json)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    duet_json_write_string(f, "q\"\\\n\x01\xff ok \xc3\xa9", 12);
    fclose(f);
    ck_assert_str_eq(buf, "\"q\\\"\\\\\\n\\u0001\\ufffd ok \xc3\xa9\"");
    /* what we write, we read back */
    char line[256], *s = NULL;
    snprintf(line, sizeof line, "{\"text\": %s}", buf);
    ck_assert_int_eq(get(line, "text", &s), 0);
    ck_assert_str_eq(s, "q\"\\\n\x01\xef\xbf\xbd ok \xc3\xa9");
    free(s);
    free(buf);
}
END_TEST

Suite *suite_json(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("jsonl");
    tcase_add_test(tc, extracts_string_members);
    tcase_add_test(tc, missing_and_malformed);
    tcase_add_test(tc, writes_valid_json);
    suite_add_tcase(s, tc);
    return s;
}
