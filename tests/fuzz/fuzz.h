/*
 * fuzz.h: the entry points shared by the libFuzzer target and its corpus replay driver.
 */
#ifndef ZT_FUZZ_H
#define ZT_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry point: one input, decoded, validated and applied to a scratch store. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Removes the scratch store (the replay driver calls it at exit). */
void fuzz_decode_cleanup(void);

#endif /* ZT_FUZZ_H */
