/* fuzz_common.h: what every fuzz target shares: broken promises abort, bytes are touched. */
#ifndef RESPTRACE_FUZZ_COMMON_H
#define RESPTRACE_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An API promise was broken: crash so that libFuzzer saves the input (and the corpus replay
 * under ctest fails). */
#define EXPECT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* Sums the bytes a pointer and length claim, so that one straying outside its buffer is read
 * and caught by ASan; callers add the result into a volatile sink so the reads stay. */
static inline uint64_t touch(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += b[i];
    return s;
}

#endif
