/* probe_engine_int.c: must not compile with the include path tools/ builds with: engine_int.h is internal
 * to its module (tests/CMakeLists.txt checks that the compiler names the header it cannot find). */
#include "engine_int.h"

int layer_probe_engine_int(void);
int layer_probe_engine_int(void)
{
    return 0;
}
