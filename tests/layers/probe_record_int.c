/* probe_record_int.c: must not compile with the include path tools/ builds with: record_int.h
 * is internal to its module. The test passes only when the compiler names that header as not found
 * (tests/CMakeLists.txt); were it found, the #error below fails the build with another
 * message, which fails the test too. */
#include "record_int.h"
#error "record_int.h was reachable from tools/: the layer is not enforced"

int layer_probe_record_int(void);
int layer_probe_record_int(void)
{
    return 0;
}
