/*
 * hash.c: the keyed hash of the store's tables whose keys a peer chooses freely (publisher
 * ids). An unkeyed hash (FNV-1a, or any fixed mix) lets a publisher pick ids that share a
 * slot of an open-addressing table, and every lookup of a batch then walks all of them: a
 * batch of n such ids costs n^2. SipHash-2-4 (Aumasson and Bernstein) with a key drawn
 * from the kernel when the store opens its first table makes such ids unpredictable.
 */
#include <sys/random.h>
#include <time.h>

#include "store_int.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void
sipround(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = ROTL(v[1], 13) ^ v[0];
	v[0] = ROTL(v[0], 32);
	v[2] += v[3];
	v[3] = ROTL(v[3], 16) ^ v[2];
	v[0] += v[3];
	v[3] = ROTL(v[3], 21) ^ v[0];
	v[2] += v[1];
	v[1] = ROTL(v[1], 17) ^ v[2];
	v[2] = ROTL(v[2], 32);
}

static uint64_t
le64_get(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* SipHash-2-4 of len bytes at p under the 16-byte key k. */
uint64_t
zt_siphash(const uint8_t k[16], const void *p, size_t len)
{
	const uint8_t *in = p;
	uint64_t k0 = le64_get(k), k1 = le64_get(k + 8);
	uint64_t v[4] = {k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull,
	    k0 ^ 0x6c7967656e657261ull, k1 ^ 0x7465646279746573ull};
	size_t full = len - len % 8;
	for (size_t i = 0; i < full; i += 8) {
		uint64_t m = le64_get(in + i);
		v[3] ^= m;
		sipround(v);
		sipround(v);
		v[0] ^= m;
	}
	uint64_t b = (uint64_t)len << 56;
	for (size_t i = full; i < len; i++)
		b |= (uint64_t)in[i] << (8 * (i - full));
	v[3] ^= b;
	sipround(v);
	sipround(v);
	v[0] ^= b;
	v[2] ^= 0xff;
	for (int i = 0; i < 4; i++)
		sipround(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/*
 * Fills s->hash_key once. Without getrandom() (an old kernel) the clock and the store's
 * address still vary the key between runs; the tables stay correct with any key.
 */
void
zt_hash_key_init(struct zt_store *s)
{
	if (s->hash_key_set)
		return;
	if (getrandom(s->hash_key, sizeof(s->hash_key), 0) != (ssize_t)sizeof(s->hash_key)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t a = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30;
		uint64_t b = (uint64_t)(uintptr_t)s;
		memcpy(s->hash_key, &a, 8);
		memcpy(s->hash_key + 8, &b, 8);
	}
	s->hash_key_set = true;
}
