/*
 * fuzz_ndjson.c: fuzz target of the NDJSON event parser of libzonetally (clients/lib/
 * ndjson.c), which zonetally-pub runs on files customs integrators write. One input is one
 * line. An event it accepts is completed and packed as zonetally-pub would send it; the
 * packed size must stay within ZT_WIRE_MSG_MAX and the error text NUL-terminated.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "zonetally.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t rnd[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
	struct zt_wire w;
	uint8_t buf[ZT_WIRE_MSG_MAX];
	char err[256], topic[ZT_TOPIC_LEN + 1];
	uint64_t next_seq = 1;

	memset(err, 'x', sizeof(err));
	int r = zt_ndjson_parse((const char *)data, size, &w, err, sizeof(err));
	if (r == -EINVAL && strnlen(err, sizeof(err)) == sizeof(err))
		abort();
	if (r != 1)
		return 0;
	zt_wire_complete(&w, "fuzz", &next_seq, rnd);
	zt_wire_topic(&w, topic);
	size_t len = zt_wire_pack(&w, buf);
	if (len == 0 || len > sizeof(buf))
		abort();
	return 0;
}
