/* probe_public.c: what tools/ may include (the modules' public headers) compiles with the
 * include path tools/ builds with, and holds what tools/ needs of them: the checks below are
 * compile-time assertions (a failed one fails the `layers_public` test). It is also the control
 * of the layer tests (tests/CMakeLists.txt): the probes that must fail fail for the header they
 * name, not for the set-up. */
#include "format.h"
#include "record.h"
#include "replay.h"

/* the histogram is format's now (stat and report use it without replay.h) */
_Static_assert(sizeof(&rt_hist_new) == sizeof(void (*)(void)), "rt_hist_new is public");
/* one request encoder and one CRC16, public in format.h */
_Static_assert(sizeof(&resp_request_write) > 0 && sizeof(&rt_crc16) > 0, "shared helpers");
_Static_assert(RT_KEY_SLOTS == 16384, "the cluster's slot count");
_Static_assert(TRACE_FORMAT_MAJOR == 1, "the format's major version");

int layer_probe_public(void);
int layer_probe_public(void)
{
    return TRACE_FORMAT_MAJOR > 0;
}
