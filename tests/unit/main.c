/* Runs every unit suite (tests/unit/test_NAME.c defines suite_NAME).
 * Filter with Check's own variables: CK_RUN_SUITE=config, CK_RUN_CASE=... */
#include <check.h>
#include <stdlib.h>

#define DUET_SUITE(name) Suite *suite_##name(void);
#include "unit_suites.h"
#undef DUET_SUITE

int main(void)
{
    /* Check reads the default per-test timeout when a test case is created;
     * numerical tests under sanitizers need more than its 4 s. */
    setenv("CK_DEFAULT_TIMEOUT", "600", 0);
    SRunner *sr = srunner_create(NULL);
#define DUET_SUITE(name) srunner_add_suite(sr, suite_##name());
#include "unit_suites.h"
#undef DUET_SUITE
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
