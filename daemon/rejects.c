/*
 * rejects.c: the detail of each rejection of a committed batch (what exactly was wrong), for
 * the log and the acknowledgements. Derived from the kept payload by zt_reject_detail(), the
 * function `zonetally rejects` uses on the rejects DB, so that all three say the same thing;
 * the validator's hot path is untouched.
 */
#include <time.h>

#include "daemon.h"
#include "zonetally.h"

static const struct zt_zone *
zone_of(void *arg, uint32_t code)
{
	return decode_zone(arg, code);
}

void
rejects_ctx(struct daemon *d, const struct batch *b, struct zt_reject_ctx *ret)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	*ret = (struct zt_reject_ctx){
	    /* after the batch: an event judged too_old early in it met this one or a lower one */
	    .watermark_ms = b->res.watermark_ms,
	    .dedup_window_days = d->conf->dedup_window_days,
	    .now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
	    .future_tolerance_ms = (int64_t)d->conf->future_tolerance_s * 1000,
	    .max_value_fen = d->conf->max_value_fen,
	    .zone = zone_of,
	    .zone_arg = &d->dopts,
	};
}

size_t
rejects_detail(
    const struct batch *b, size_t i, const struct zt_reject_ctx *rc, char *buf, size_t len)
{
	const struct zt_entry *e = &b->e[i];
	size_t kept = e->raw_len < ZT_REJECT_KEEP ? e->raw_len : ZT_REJECT_KEEP;

	return zt_reject_detail(e->reason, e->raw, e->raw_len, kept, rc, buf, len);
}
