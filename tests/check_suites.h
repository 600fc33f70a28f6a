/* check_suites.h: the Check suites that check_main.c runs, one per module. */
#ifndef RESPTRACE_CHECK_SUITES_H
#define RESPTRACE_CHECK_SUITES_H

#include <check.h>

Suite *format_suite(void);
Suite *record_suite(void);
Suite *replay_suite(void);
Suite *crash_suite(void);
Suite *resp_suite(void);
Suite *tcp_suite(void);
Suite *session_suite(void);
Suite *cmdtable_suite(void);
Suite *hist_suite(void);
Suite *server_suite(void);
Suite *slot_suite(void);
Suite *sync_suite(void);

#endif
