/*
 * eventid.c: event ids as DESIGN.md §3 recommends (48-bit time, then 80 bits of our hash of
 * the customs list number), UUIDv7, and hex text. The hash is ours and frozen: ids derived
 * today must equal ids derived by any later version, or resends would count twice.
 */
#include <errno.h>
#include <string.h>

#include "zonetally.h"

#define K1 0x9e3779b97f4a7c15ull
#define K2 0xc2b2ae3d27d4eb4full
#define K3 0x165667b19e3779f9ull

/* The splitmix64 finaliser: every input bit affects every output bit. */
static uint64_t
mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

/* Reads 8 bytes little-endian, whatever the host order, so the hash is portable. */
static uint64_t
load64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

void
zt_hash128(const void *buf, size_t len, uint64_t ret[2])
{
	const uint8_t *p = buf;
	uint64_t a = K1 ^ (uint64_t)len, b = K2 + (uint64_t)len;
	uint8_t tail[8] = {0};

	for (; len >= 8; len -= 8, p += 8) {
		uint64_t w = load64(p);
		a = mix(a ^ w) * K3;
		b = mix(b + w * K1) ^ (b >> 17);
	}
	if (len > 0) {
		memcpy(tail, p, len);
		uint64_t w = load64(tail);
		a = mix(a ^ w) * K3;
		b = mix(b + w * K1) ^ (b >> 17);
	}
	ret[0] = mix(a + b);
	ret[1] = mix(b ^ (a * K2));
}

/* Writes the low 48 bits of ms big-endian. */
static void
put_time48(int64_t unix_ms, uint8_t out[6])
{
	uint64_t t = (uint64_t)unix_ms & 0xffffffffffffull;

	for (int i = 5; i >= 0; i--, t >>= 8)
		out[i] = (uint8_t)(t & 0xff);
}

void
zt_eventid_from_list_no(
    int64_t declared_at_ms, const char *list_no, size_t len, uint8_t ret[ZT_EVENT_ID_LEN])
{
	uint64_t h[2];

	zt_hash128(list_no, len, h);
	put_time48(declared_at_ms, ret);
	for (int i = 0; i < 8; i++)
		ret[6 + i] = (uint8_t)(h[0] >> (56 - 8 * i));
	ret[14] = (uint8_t)(h[1] >> 56);
	ret[15] = (uint8_t)(h[1] >> 48);
}

void
zt_eventid_uuidv7(int64_t unix_ms, const uint8_t rnd[10], uint8_t ret[ZT_EVENT_ID_LEN])
{
	put_time48(unix_ms, ret);
	memcpy(ret + 6, rnd, 10);
	ret[6] = (uint8_t)(0x70 | (ret[6] & 0x0f));
	ret[8] = (uint8_t)(0x80 | (ret[8] & 0x3f));
}

void
zt_hex_encode(const uint8_t *buf, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex[buf[i] >> 4];
		out[2 * i + 1] = hex[buf[i] & 0xf];
	}
	out[2 * len] = '\0';
}

/* Returns the value of a hex digit, or -1. */
static int
nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
zt_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t cap, size_t *ret_len)
{
	if (hexlen % 2 != 0)
		return -EINVAL;
	if (hexlen / 2 > cap)
		return -E2BIG;
	for (size_t i = 0; i < hexlen; i += 2) {
		int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	*ret_len = hexlen / 2;
	return 0;
}
