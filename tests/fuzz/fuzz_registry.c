/*
 * fuzz_registry.c: fuzz target of the zone registry CSV parser (store/registry.c). One input
 * is a whole zones.csv. Whatever the parser accepts must come back sorted by code without
 * duplicates, as decode_zone()'s binary search assumes; anything else is a finding.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "store.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zt_zone *zones = NULL;
	size_t line = 0;
	int n = zt_registry_parse((const char *)data, size, &zones, &line);

	for (int i = 1; i < n; i++)
		if (zones[i - 1].code >= zones[i].code)
			abort();
	for (int i = 0; i < n; i++)
		(void)zt_zone_valid_in(&zones[i], 2022);
	free(n > 0 ? zones : NULL);
	return 0;
}
