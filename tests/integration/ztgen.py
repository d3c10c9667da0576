"""ztgen: the test workload, generated in Python independently of zonetally-pub.

The expected totals must not come from the code under test, so events are drawn here (seeded,
reproducible), written as NDJSON for `zonetally-pub --file`, and folded into ztharness.Expected
as they are drawn. Invalid lines carry the rejection reason the daemon must count them under.
"""

import calendar
import itertools
import json
import math
import random
import time

import ztharness as zh

# The CST days of the workload: across a month and a year end, so that every granularity
# has more than one bucket.
DAYS = [(2022, 12, 30), (2022, 12, 31), (2023, 1, 1), (2023, 1, 2)]
DAY_MS = 86400 * 1000


def day_start_ms(y, m, d):
    """Unix ms of 00:00 CST on that day."""
    return calendar.timegm((y, m, d, 0, 0, 0)) * 1000 - zh.CST_OFFSET_MS


def rfc3339_cst(ms):
    """An RFC 3339 time with the +08:00 offset (whole seconds), as customs systems write it."""
    t = time.gmtime((ms + zh.CST_OFFSET_MS) // 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S+08:00", t)


class Workload:
    """Valid declarations and reversals, exact resends, and invalid lines, with expectations."""

    def __init__(self, zones, seed, n_valid, dup_ratio=0.10, invalid_ratio=0.01):
        self.rng = random.Random(seed)
        self.zones = zones
        self.expected = zh.Expected()
        self.reasons = {}          # reason -> count of lines sent that must be rejected
        self.valid = []            # valid lines (declarations and reversals), in order
        self.decls = []            # declarations not reversed yet: reversal candidates
        self.reversed = []         # declarations reversed once (for reversal_twice)
        self.lines = []            # the NDJSON file, in send order
        self.n_dups = 0
        self.n_invalid = 0
        self._pool = zh.zones_valid_in(zones, 2022)
        check_pool = zh.zones_valid_in(zones, 2023)
        assert self._pool == check_pool, "the workload assumes one zone set for 2022-2023"
        # Traffic concentrates in the largest zones, as it does in reality.
        self._cum = list(itertools.accumulate(1.0 / (i + 1) ** 0.9 for i in range(len(self._pool))))
        self.rng.shuffle(self._pool)
        self._build(n_valid, dup_ratio, invalid_ratio)

    # ---- valid events ----

    def _event_id(self, ms):
        """Recommended form: 48-bit ms, then 80 random bits."""
        return f"{ms & 0xFFFFFFFFFFFF:012x}{self.rng.getrandbits(80):020x}"

    def _time(self):
        """A time on one of the days, with the exact CST midnight edges drawn on purpose."""
        start = day_start_ms(*self.rng.choice(DAYS))
        r = self.rng.random()
        if r < 0.01:
            return start
        if r < 0.02:
            return start + DAY_MS - 1
        if r < 0.07:
            return start + self.rng.randrange(DAY_MS // 1000) * 1000
        return start + self.rng.randrange(DAY_MS)

    def _declaration(self):
        """One plausible declaration, recorded in the expected totals."""
        zone = self.rng.choices(self._pool, cum_weights=self._cum)[0]
        direction = "EXPORT" if self.rng.random() < 0.7 else "IMPORT"
        modes = zh.EXPORT_MODES if direction == "EXPORT" else zh.IMPORT_MODES
        mode = self.rng.choice(modes)
        ms = self._time()
        value = min(int(math.exp(self.rng.gauss(9.5, 1.4))), 10**10)
        ev = {"event_id": self._event_id(ms), "zone_code": zone, "direction": direction,
              "mode": mode if self.rng.random() < 0.5 else int(mode), "value_fen": value,
              "item_count": self.rng.randint(1, 20)}
        if ms % 1000 == 0 and self.rng.random() < 0.5:
            ev["declared_at"] = rfc3339_cst(ms)
        else:
            ev["declared_at_ms"] = ms
        if self.rng.random() < 0.6:
            ev["hs_code"] = str(self.rng.randrange(10**9, 10**10))
        meta = (zone, direction, mode, ms, value, ev["item_count"])
        self.expected.apply(*meta, +1)
        self.decls.append((ev, meta))
        return ev

    def _reversal_of(self, orig, kind=None):
        """A CANCELLATION/RETURN carrying the original's fields, with its own id."""
        ev = dict(orig)
        ms = orig.get("declared_at_ms") or self._ms_of(orig)
        ev["event_id"] = self._event_id(ms)
        ev["kind"] = kind or self.rng.choice(["CANCELLATION", "RETURN"])
        ev["ref_event_id"] = orig["event_id"]
        return ev

    def _ms_of(self, ev):
        """Event time of a line in unix ms, whichever time field it carries."""
        if "declared_at_ms" in ev:
            return ev["declared_at_ms"]
        t = time.strptime(ev["declared_at"], "%Y-%m-%dT%H:%M:%S+08:00")
        return calendar.timegm(t) * 1000 - zh.CST_OFFSET_MS

    def _reversal(self):
        """Reverses a random earlier declaration that was not reversed yet."""
        i = self.rng.randrange(len(self.decls))
        self.decls[i], self.decls[-1] = self.decls[-1], self.decls[i]
        orig, meta = self.decls.pop()
        self.expected.apply(*meta, -1)
        self.reversed.append((orig, meta))
        return self._reversal_of(orig)

    def _build(self, n_valid, dup_ratio, invalid_ratio):
        """Interleaves valid lines, resends and early invalid lines; late invalid ones last."""
        n_dup = int(n_valid * dup_ratio)
        n_bad = int(n_valid * invalid_ratio)
        slots = ["v"] * n_valid + ["d"] * n_dup + ["x"] * n_bad
        self.rng.shuffle(slots)
        for s in slots:
            if s == "v" or not self.valid:
                rev = len(self.decls) > 50 and self.rng.random() < 0.03
                ev = self._reversal() if rev else self._declaration()
                self.valid.append(ev)
                self.lines.append(ev)
            elif s == "d":
                self.lines.append(self.rng.choice(self.valid))
                self.n_dups += 1
            else:
                self._invalid(self.rng.choice(EARLY_INVALID))
        for kind in LATE_INVALID:
            for _ in range(max(1, n_bad // 50)):
                self._invalid(kind)

    # ---- invalid lines ----

    def _invalid(self, kind):
        """Appends one line that must be rejected for the reason `kind` names."""
        base = self._base_valid()
        reason = INVALID_KINDS[kind](self, base)
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        self.lines.append(base)
        self.n_invalid += 1

    def _base_valid(self):
        """A well-formed declaration that is not recorded anywhere: the invalid lines' base."""
        zone = self.rng.choice(self._pool)
        ms = self._time()
        return {"event_id": self._event_id(ms), "zone_code": zone, "direction": "EXPORT",
                "mode": "9610", "value_fen": 1000, "item_count": 1, "declared_at_ms": ms}

    def write(self, path):
        """Writes the NDJSON file (with a comment and a blank line, which must be skipped)."""
        with open(path, "w", encoding="utf-8") as f:
            f.write("# zonetally integration workload\n\n")
            for ev in self.lines:
                f.write(json.dumps(ev, separators=(",", ":")) + "\n")


def _set(field, value, reason):
    """An invalid-line maker that sets one field."""
    def make(_w, ev):
        ev[field] = value
        return reason
    return make


def _drop(field, reason):
    """An invalid-line maker that removes one field."""
    def make(_w, ev):
        del ev[field]
        return reason
    return make


def _import_mode(mode):
    """A maker pairing a mode with the direction it does not exist in."""
    def make(_w, ev):
        ev["direction"], ev["mode"] = ("IMPORT", mode) if mode != "1239" else ("EXPORT", mode)
        return "mode_direction"
    return make


def _future(_w, ev):
    """Two days ahead of the wall clock, beyond the 300 s tolerance."""
    ev["zone_code"] = 330100  # valid in every year from 2015: the time alone is at fault
    ev["declared_at_ms"] = int(time.time() * 1000) + 2 * DAY_MS
    return "future_time"


def _too_old(_w, ev):
    """Two months before the watermark, beyond the 35-day dedup window."""
    ev["declared_at_ms"] = day_start_ms(2022, 11, 1)
    return "too_old"


def _rev_unknown(w, ev):
    """A cancellation of an id nobody ever sent."""
    ev["kind"] = "CANCELLATION"
    ev["ref_event_id"] = f"{w.rng.getrandbits(128):032x}"
    return "reversal_unknown"


def _rev_twice(w, ev):
    """A second, well-formed reversal of a declaration already reversed."""
    orig, _ = w.rng.choice(w.reversed)
    ev.clear()
    ev.update(w._reversal_of(orig, "RETURN"))
    return "reversal_twice"


def _rev_mismatch(w, ev):
    """A reversal whose value is not the original's."""
    orig, _ = w.rng.choice(w.decls)
    ev.clear()
    ev.update(w._reversal_of(orig, "CANCELLATION"))
    ev["value_fen"] = orig["value_fen"] + 1
    return "reversal_mismatch"


def _zone_not_valid(w, ev):
    """A zone of the 2025 batch, for an event of 2022-2023."""
    ev["zone_code"] = min(c for c, (_, a, _r) in w.zones.items() if a == 2025)
    return "zone_not_valid"


def _bad_kind(w, ev):
    """A declaration that names an original, as only reversals may."""
    ev["kind"] = "DECLARATION"
    ev["ref_event_id"] = f"{w.rng.getrandbits(128):032x}"
    return "bad_kind"


INVALID_KINDS = {
    "unknown_zone": _set("zone_code", 999999, "unknown_zone"),
    "zone_not_valid": _zone_not_valid,
    "mode_9710_import": _import_mode("9710"),
    "mode_9810_import": _import_mode("9810"),
    "mode_1239_export": _import_mode("1239"),
    "negative_value": _set("value_fen", -5, "negative_value"),
    "value_too_large": _set("value_fen", 100000000001, "value_too_large"),
    "hs_code_12": _set("hs_code", "12", "bad_hs_code"),
    "event_id_8": _set("event_id", "0123456789abcdef", "bad_event_id"),
    "bad_publisher": _set("publisher_id", "bad id!", "bad_publisher"),
    "missing_zone": _drop("zone_code", "missing_field"),
    "missing_value": _drop("value_fen", "missing_field"),
    "direction_7": _set("direction", 7, "bad_direction"),
    "mode_7": _set("mode", 7, "bad_mode"),
    "reversal_unknown": _rev_unknown,
    "bad_kind": _bad_kind,
    "future_time": _future,
    "too_old": _too_old,
    "reversal_twice": _rev_twice,
    "reversal_mismatch": _rev_mismatch,
}

# too_old needs the watermark to have moved; the reversal cases need their originals sent.
LATE_INVALID = ["too_old", "reversal_twice", "reversal_mismatch"]
EARLY_INVALID = [k for k in INVALID_KINDS if k not in LATE_INVALID]
