/* probe_replay_int.c: must not compile with the include path tools/ builds with: replay_int.h is internal
 * to its module (tests/CMakeLists.txt checks that the compiler names the header it cannot find). */
#include "replay_int.h"

int layer_probe_replay_int(void);
int layer_probe_replay_int(void)
{
    return 0;
}
