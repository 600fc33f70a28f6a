/* probe_replay_int.c: must not compile with the include path tools/ builds with: replay_int.h is internal
 * to its module. The test passes only when the compiler names that header as not found
 * (tests/CMakeLists.txt); were it found, the #error below fails the build with another
 * message, which fails the test too. */
#include "replay_int.h"
#error "replay_int.h was reachable from tools/: the layer is not enforced"

int layer_probe_replay_int(void);
int layer_probe_replay_int(void)
{
    return 0;
}
