/*
 * decode_wire.c: what protobuf-c does not check in a payload it accepted. proto2 strings
 * reach C as NUL-terminated char * with their wire length dropped and no UTF-8 check, so an
 * embedded NUL would silently shorten a publisher id ("acme\0evil" would count as "acme")
 * and invalid UTF-8 would flow into logs, JSON and metrics labels. This file walks the raw
 * fields once more and judges every string field's bytes as they were sent; and it reads a
 * message's publisher_id and sequence before anything else is judged (decode_identity()).
 */
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "daemon.h"

/* Reads one base-128 varint at *p, advancing it; false if it is cut short or too long. */
static bool
varint(const uint8_t **p, const uint8_t *end, uint64_t *ret)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*ret = v;
			return true;
		}
	}
	return false;
}

/*
 * Length of the UTF-8 sequence that starts s (n bytes left), or 0 if it is not one
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF) or if it encodes a
 * C1 control character, which no legitimate identifier or code contains.
 */
static size_t
text_seq(const uint8_t *s, size_t n)
{
	uint8_t c = s[0];
	size_t len;
	uint32_t cp, min;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2, cp = c & 0x1fu, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, cp = c & 0x0fu, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4, cp = c & 0x07u, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp <= 0x9f)
		return 0;
	return len;
}

/*
 * Returns true if the n bytes at s are valid UTF-8 without NUL or other control characters
 * (C0, DEL, C1): text that is safe to log, to put in JSON and to compare as a C string.
 */
bool
decode_text_ok(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		if (s[i] < 0x20 || s[i] == 0x7f)
			return false;
		size_t k = text_seq(s + i, n - i);
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

/*
 * Walks the top-level fields of a payload that protobuf-c unpacked with descriptor d, and
 * checks every occurrence of every string field with decode_text_ok(). Repeated occurrences
 * count too: protobuf-c keeps the last, but a hostile earlier one must not pass unseen.
 * @return true if every string field is clean text.
 * @note The payload already unpacked, so its framing is sound; a surprise (a group, which
 *     protobuf-c skips as an unknown field) only ends the walk.
 */
bool
decode_strings_ok(const struct ProtobufCMessageDescriptor *d, const void *payload, size_t len)
{
	const uint8_t *p = payload, *end = p + len;
	uint64_t tag, n;

	while (p < end) {
		if (!varint(&p, end, &tag))
			return true;
		switch (tag & 7) {
		case 0: /* varint */
			if (!varint(&p, end, &n))
				return true;
			break;
		case 1: /* fixed64 */
		case 5: /* fixed32 */
			n = (tag & 7) == 1 ? 8 : 4;
			if (n > (uint64_t)(end - p))
				return true;
			p += n;
			break;
		case 2: { /* length-delimited: bytes, strings, messages */
			if (!varint(&p, end, &n) || n > (uint64_t)(end - p))
				return true;
			const ProtobufCFieldDescriptor *f = tag >> 3 > UINT32_MAX
			    ? NULL
			    : protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3));
			if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING && !decode_text_ok(p, n))
				return false;
			p += n;
			break;
		}
		default:
			return true;
		}
	}
	return true;
}

/* Whether the n bytes at s are a publisher_id: 1..ZT_PUBLISHER_MAX of [A-Za-z0-9._-]. */
bool
decode_publisher_ok(const uint8_t *s, size_t n)
{
	if (n == 0 || n > ZT_PUBLISHER_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		if (!ok)
			return false;
	}
	return true;
}

/* Skips the value of a field of wire type `wt` at *p; false if it is cut short or unknown. */
static bool
skip_value(const uint8_t **p, const uint8_t *end, unsigned wt, uint64_t *ret_len)
{
	uint64_t n;

	switch (wt) {
	case 0:
		return varint(p, end, &n);
	case 1:
	case 5:
		n = wt == 1 ? 8 : 4;
		break;
	case 2:
		if (!varint(p, end, &n))
			return false;
		break;
	default:
		return false;
	}
	if (n > (uint64_t)(end - *p))
		return false;
	*ret_len = n;
	*p += n;
	return true;
}

/*
 * Reads the publisher_id (field 2) and sequence (field 3) of a TradeEvent straight from its
 * bytes, the last occurrence of each as protobuf-c keeps it, without unpacking the rest.
 * The caller learns who sent a message before judging it, so that every rejection (too
 * large, undecodable, bad text elsewhere, ...) is still an outcome at the publisher's
 * sequence: the acknowledged mark passes it and a publisher that resends from mark + 1
 * moves on. The walk stops where the framing breaks; what it read before stands.
 * @param[out] pub the publisher_id, NUL-terminated, when true is returned
 * @return true if both were found, the id valid (decode_publisher_ok()) and sequence >= 1.
 */
bool
decode_identity(const void *payload, size_t len, char pub[ZT_PUBLISHER_MAX + 1], uint64_t *seq)
{
	const uint8_t *p = payload, *end = p + len, *id = NULL;
	uint64_t tag, id_len = 0, v = 0;
	bool has_seq = false;

	while (p < end && varint(&p, end, &tag) && tag >> 3 != 0) {
		const uint8_t *val = p;
		uint64_t n = 0;
		if (tag == (3u << 3 | 0) && varint(&val, end, &v))
			has_seq = true;
		if (!skip_value(&p, end, (unsigned)(tag & 7), &n))
			break;
		if (tag == (2u << 3 | 2))
			id = p - n, id_len = n;
	}
	if (id == NULL || !has_seq || v == 0 || !decode_publisher_ok(id, (size_t)id_len))
		return false;
	memcpy(pub, id, (size_t)id_len);
	pub[id_len] = '\0';
	*seq = v;
	return true;
}
