/* probe_format_int.c: must not compile with the include path tools/ builds with: format_int.h is internal
 * to its module (tests/CMakeLists.txt checks that the compiler names the header it cannot find). */
#include "format_int.h"

int layer_probe_format_int(void);
int layer_probe_format_int(void)
{
    return 0;
}
