/*
 * fuzz.h: the entry points shared by the libFuzzer target and its corpus replay driver.
 */
#ifndef ZT_FUZZ_H
#define ZT_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/*
 * libFuzzer's entry point, one per target (fuzz_<target>.c): feeds one input to the code
 * under test. Returns 0. A target that needs scratch state sets it up on the first call and
 * removes it with atexit(), which both libFuzzer and the replay driver reach.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct zt_store;

/* scratch.c (library zt_fuzz_scratch): a store in a removed temporary directory, with the
 * real registry, written without fsync. Aborts on failure; the caller frees it. */
struct zt_store *fuzz_scratch_store(void);

#endif /* ZT_FUZZ_H */
