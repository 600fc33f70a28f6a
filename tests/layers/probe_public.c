/* probe_public.c: what tools/ may include (the modules' public headers) compiles with the
 * include path tools/ builds with. The control of the layer tests (tests/CMakeLists.txt): it
 * shows that the probes that must fail fail for the header they name, not for the set-up. */
#include "format.h"
#include "record.h"
#include "replay.h"

int layer_probe_public(void);
int layer_probe_public(void)
{
    return TRACE_FORMAT_MAJOR > 0;
}
