/* Config parser: every error class names source, line, key and value. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "duet/config.h"
#include "testutil.h"

static duet_config cfg;
static duet_err err;

static void setup(void) { duet_config_defaults(&cfg); memset(&err, 0, sizeof err); }

START_TEST(defaults_match_table)
{
    ck_assert_int_eq(cfg.dim, 256);
    ck_assert_double_eq_tol(cfg.lr, 2e-4, 1e-12);
    ck_assert_str_eq(cfg.objective, "mdlm");
    ck_assert_int_eq(duet_config_is_set(&cfg, "dim"), 0);
}
END_TEST

START_TEST(parses_types_comments_quotes)
{
    const char *text = "# comment\n"
                       "dim = 128   # trailing comment\n"
                       "lr=3e-4\n"
                       "\n"
                       "objective = ar\n"
                       "use_ema = false\n"
                       "prompt = \"a # not a comment \\\"q\\\"\"\n";
    ck_assert_int_eq(duet_config_parse_text(&cfg, text, "t.conf", ~0u, &err), 0);
    ck_assert_int_eq(cfg.dim, 128);
    ck_assert_double_eq_tol(cfg.lr, 3e-4, 1e-12);
    ck_assert_str_eq(cfg.objective, "ar");
    ck_assert_int_eq(cfg.use_ema, 0);
    ck_assert_str_eq(cfg.prompt, "a # not a comment \"q\"");
    ck_assert_int_eq(duet_config_is_set(&cfg, "dim"), 1);
}
END_TEST

START_TEST(unknown_key_suggests_closest)
{
    ck_assert_int_ne(duet_config_parse_text(&cfg, "dim = 64\nlrr = 0.1\n", "x.conf", ~0u, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "x.conf:2"));
    ck_assert_ptr_nonnull(strstr(err.msg, "unknown key 'lrr'"));
    ck_assert_ptr_nonnull(strstr(err.msg, "'0.1'"));
    ck_assert_ptr_nonnull(strstr(err.msg, "did you mean 'lr'"));
}
END_TEST

START_TEST(bad_type)
{
    ck_assert_int_ne(duet_config_parse_text(&cfg, "dim = 12x\n", "x.conf", ~0u, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "x.conf:1: key 'dim' value '12x' is not an integer"));
    ck_assert_int_ne(duet_config_parse_text(&cfg, "lr = fast\n", "x.conf", ~0u, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "'lr' value 'fast' is not a finite number"));
    ck_assert_int_ne(duet_config_parse_text(&cfg, "lr = nan\n", "x.conf", ~0u, &err), 0);
    ck_assert_int_ne(duet_config_parse_text(&cfg, "use_ema = maybe\n", "x.conf", ~0u, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a boolean"));
    ck_assert_int_ne(duet_config_parse_text(&cfg, "objective = gan\n", "x.conf", ~0u, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "'objective' value 'gan' is not one of"));
}
END_TEST

START_TEST(out_of_range)
{
    ck_assert_int_ne(duet_config_parse_text(&cfg, "\n\nn_layer = 0\n", "r.conf", ~0u, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "r.conf:3: key 'n_layer' value '0' is out of range [1, 1024]"));
    ck_assert_int_ne(duet_config_parse_text(&cfg, "top_p = 1.5\n", "r.conf", ~0u, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "out of range"));
}
END_TEST

START_TEST(duplicate_key)
{
    ck_assert_int_ne(duet_config_parse_text(&cfg, "dim = 64\nlr = 1\ndim = 32\n", "d.conf", ~0u, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "d.conf:3: duplicate key 'dim' (value '32'); first set on line 1"));
}
END_TEST

START_TEST(syntax_errors)
{
    ck_assert_int_ne(duet_config_parse_text(&cfg, "dim 64\n", "s.conf", ~0u, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "s.conf:1: expected 'key = value'"));
    ck_assert_int_ne(duet_config_parse_text(&cfg, "prompt = \"open\n", "s.conf", ~0u, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "unterminated"));
    ck_assert_int_ne(duet_config_parse_text(&cfg, "= 3\n", "s.conf", ~0u, &err), 0);
}
END_TEST

START_TEST(scope_rejects_foreign_keys)
{
    ck_assert_int_ne(duet_config_parse_text(&cfg, "vocab_size = 1000\n", "t.conf", DUET_SCOPE_TRAIN, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "not used by this program"));
    ck_assert_int_eq(duet_config_parse_text(&cfg, "vocab_size = 1000\n", "t.conf", DUET_SCOPE_PREP, &err), 0);
}
END_TEST

START_TEST(text_round_trip)
{
    ck_assert_int_eq(duet_config_parse_text(&cfg, "dim = 96\nlr = 0.123456789\nprompt = \"a\\nb\\\\c\\\"\"\n",
                                            "t", ~0u, &err), 0);
    char *text = duet_config_to_text(&cfg, ~0u);
    duet_config back;
    duet_config_defaults(&back);
    ck_assert_int_eq(duet_config_parse_text(&back, text, "round", ~0u, &err), 0);
    free(text);
    ck_assert_int_eq(back.dim, 96);
    ck_assert(back.lr == cfg.lr);
    ck_assert_str_eq(back.prompt, "a\nb\\c\"");
}
END_TEST

START_TEST(cli_overrides_file_and_rejects_duplicates)
{
    char *dir = test_tmpdir();
    const char *conf = "dim = 64\nlr = 0.5\n";
    char *path = test_write_file(dir, "a.conf", conf, strlen(conf));
    duet_cli cli = {"prog", "[CONFIG] [key=value]", "test", ~0u};
    char *argv1[] = {"prog", path, "dim=32", NULL};
    ck_assert_int_eq(duet_config_from_args(&cfg, &cli, 3, argv1, &err), 0);
    ck_assert_int_eq(cfg.dim, 32);
    ck_assert_double_eq_tol(cfg.lr, 0.5, 1e-12);
    char *argv2[] = {"prog", "dim=32", "dim=16", NULL};
    ck_assert_int_eq(duet_config_from_args(&cfg, &cli, 3, argv2, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "command line: duplicate key 'dim'"));
    char *argv3[] = {"prog", "--bogus", NULL};
    ck_assert_int_eq(duet_config_from_args(&cfg, &cli, 2, argv3, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "unknown option '--bogus'"));
    char *argv4[] = {"prog", "/nonexistent/x.conf", NULL};
    ck_assert_int_eq(duet_config_from_args(&cfg, &cli, 2, argv4, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/x.conf"));
    free(path);
    test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(edit_distance)
{
    ck_assert_int_eq(duet_edit_distance("kitten", "sitting"), 3);
    ck_assert_int_eq(duet_edit_distance("", "abc"), 3);
    ck_assert_int_eq(duet_edit_distance("lr", "lr"), 0);
}
END_TEST

Suite *suite_config(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("parse");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, defaults_match_table);
    tcase_add_test(tc, parses_types_comments_quotes);
    tcase_add_test(tc, unknown_key_suggests_closest);
    tcase_add_test(tc, bad_type);
    tcase_add_test(tc, out_of_range);
    tcase_add_test(tc, duplicate_key);
    tcase_add_test(tc, syntax_errors);
    tcase_add_test(tc, scope_rejects_foreign_keys);
    tcase_add_test(tc, text_round_trip);
    tcase_add_test(tc, cli_overrides_file_and_rejects_duplicates);
    tcase_add_test(tc, edit_distance);
    suite_add_tcase(s, tc);
    return s;
}
