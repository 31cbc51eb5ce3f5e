/* Runs every MPI suite (tests/mpi/test_NAME.c defines suite_NAME) on every
 * rank: `launch/duet-mpirun.sh -np 2 build/tests/mpi_tests`. Check must not
 * fork here (a forked child cannot use MPI), so failures are per rank; the
 * exit status is nonzero if any rank failed. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "duet/dist.h"

#define DUET_SUITE(name) Suite *suite_##name(void);
#include "mpi_suites.h"
#undef DUET_SUITE

duet_dist *test_dist;

int main(int argc, char **argv)
{
    test_dist = duet_dist_init(&argc, &argv);
    if (!test_dist) {
        fprintf(stderr, "mpi_tests: MPI failed to start\n");
        return 1;
    }
    setenv("CK_DEFAULT_TIMEOUT", "600", 0);
    SRunner *sr = srunner_create(NULL);
#define DUET_SUITE(name) srunner_add_suite(sr, suite_##name());
#include "mpi_suites.h"
#undef DUET_SUITE
    srunner_set_fork_status(sr, CK_NOFORK);
    /* Only rank 0 prints the summary; every rank's failures are counted. */
    srunner_run_all(sr, duet_dist_is_root(test_dist) ? CK_NORMAL : CK_SILENT);
    int64_t failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    duet_dist_allreduce_max_i64(test_dist, &failed, 1);
    duet_dist_finalize(test_dist);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
