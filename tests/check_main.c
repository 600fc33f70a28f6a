/* check_main.c: runs the Check unit suites of resptrace; exits non-zero when a test fails. */
#include "check_suites.h"

#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    SRunner *sr = srunner_create(format_suite());
    srunner_add_suite(sr, record_suite());
    srunner_add_suite(sr, replay_suite());
    srunner_add_suite(sr, crash_suite());
    srunner_add_suite(sr, resp_suite());
    srunner_add_suite(sr, tcp_suite());
    srunner_add_suite(sr, session_suite());
    srunner_add_suite(sr, cmdtable_suite());
    srunner_add_suite(sr, hist_suite());
    srunner_add_suite(sr, server_suite());
    srunner_add_suite(sr, slot_suite());
    srunner_add_suite(sr, sync_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr), ran = srunner_ntests_run(sr);
    srunner_free(sr);
    if (ran == 0) { /* a runner that ran nothing passes nothing */
        fprintf(stderr, "check_main: no test ran\n");
        return EXIT_FAILURE;
    }
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
