#!/usr/bin/python3
"""test_batch_outcomes: every event of an EventBatch that names its publisher and sequence
gets an outcome at that sequence, whatever is wrong with it.

issue 13, hole 3: an oversize event inside an EventBatch was rejected with sequence 0 and
no publisher (the size check returned before the sequence was read), so its sequence was
never marked, the acknowledged mark never passed it, and a publisher resending from
mark + 1 looped forever. The same held for an event protobuf-c could not unpack and for a
bad string in any field but publisher_id. This test walks every rejection reason an event
of the acknowledged path can earn while naming a valid publisher_id and sequence (all but
topic_mismatch, which needs a PUB topic; bad_publisher and bad_sequence, which name none;
overflow, which needs 2^63 fen; and the two CURVE-only reasons), each alone in an
EventBatch and then all together in one, and checks that the ack reports each at its
sequence with its reason and that through_sequence passes every one of them.
"""

import os
import sys
import time

import ztharness as zh
import ztwire

PUB = "outcomes"
DAY_MS = ztwire.DAY_MS


def cases(ms):
    """[(reason, field overrides or a function of the encoded event -> bytes)]."""
    old_ms = ms - 60 * DAY_MS
    y2016 = 1464739200000  # 2016-06-01: Beijing's zone (110100) opened in 2018
    return [
        ("oversize", {"padding": b"x" * 5000}),
        ("undecodable", lambda ev: ev + b"\x62\x10ab"),  # field 12 cut short
        ("missing_field", {"item_count": None}),
        ("bad_event_id", {"event_id": b"short"}),
        ("unknown_zone", {"zone_code": 999999}),
        ("zone_not_valid", {"zone_code": 110100, "declared_at_ms": y2016}),
        ("bad_direction", {"direction": 3}),
        ("bad_mode", {"mode": 9}),
        ("mode_direction", {"mode": 2, "direction": 1}),
        ("bad_hs_code", {"hs_code": "12"}),
        ("negative_value", {"value_fen": -5}),
        ("value_too_large", {"value_fen": 1 << 62}),
        ("bad_kind", {"kind": 7}),
        ("future_time", {"declared_at_ms": int(time.time() * 1000) + 2 * DAY_MS}),
        ("too_old", {"declared_at_ms": old_ms}),
        ("reversal_unknown", {"kind": 1, "ref_event_id": b"\x01" * 16}),
        ("reversal_twice", {"kind": 1, "ref_event_id": "first"}),
        ("reversal_mismatch", {"kind": 1, "ref_event_id": "second", "value_fen": 7}),
        ("bad_utf8", {"hs_code": b"61\xff\xfe"}),
        ("too_early", {"declared_at_ms": 1401580800000}),  # 2014-06-01
    ]


class Seq:
    """The publisher's sequence numbers and the event ids of the two originals."""

    def __init__(self, ms):
        self.next = 1
        self.ms = ms
        self.ids = {}

    def event(self, spec=None, value=100):
        """The next sequence's event, with a case's overrides applied."""
        seq, self.next = self.next, self.next + 1
        over = dict(spec) if isinstance(spec, dict) else {}
        if over.get("ref_event_id") in self.ids:
            over["ref_event_id"] = self.ids[over["ref_event_id"]]
        ev = ztwire.event(PUB, seq, self.ms, value=over.pop("value_fen", value), **over)
        return seq, spec(ev) if callable(spec) else ev


def originals(sock, marks, s, d):
    """Two declarations and a cancellation of the first: what the reversal cases need."""
    evs = []
    for name in ("first", "second"):
        _, ev = s.event()
        s.ids[name] = ev[2:18]  # field 1 comes first: tag, length 16, the id
        evs.append(ev)
    evs.append(s.event({"kind": 1, "ref_event_id": "first"})[1])
    sock.send(b"\x02" + ztwire.batch(evs))
    marks.wait(sock, {PUB: s.next - 1}, 30, "the originals", d)
    zh.check_eq(marks.rejected, {}, "the originals and the cancellation are accepted")


def one_by_one(sock, marks, s, ms, d):
    """Each case alone in a batch, followed by a valid event."""
    for reason, spec in cases(ms):
        seq, bad = s.event(spec)
        last, good = s.event()
        sock.send(b"\x02" + ztwire.batch([bad, good]))
        marks.wait(sock, {PUB: last}, 30, f"ack through a {reason} event at {seq}", d)
        zh.check_eq(marks.rejected.pop(PUB, []), [(seq, reason)],
                    f"the {reason} event's rejection at its own sequence")


def all_at_once(sock, marks, s, ms, d):
    """Every case in one batch, then a valid event, in one EventBatch."""
    evs, want = [], []
    for reason, spec in cases(ms):
        seq, ev = s.event(spec)
        evs.append(ev)
        want.append((seq, reason))
    last, good = s.event()
    sock.send(b"\x02" + ztwire.batch(evs + [good]))
    marks.wait(sock, {PUB: last}, 30, "ack through a batch of every reason", d)
    zh.check_eq(sorted(marks.rejected.pop(PUB, [])), want, "every rejection at its sequence")


def test(bins, work):
    d = zh.Daemon(bins, work).start()
    sock = ztwire.dealer(d.ingest_endpoint)
    marks, ms = ztwire.Marks(), ztwire.day_ms()
    s = Seq(ms)
    originals(sock, marks, s, d)
    one_by_one(sock, marks, s, ms, d)
    all_at_once(sock, marks, s, ms, d)
    stats = zh.Cli(bins, work).stats()
    n = len(cases(ms))
    zh.check_eq(stats["rejected"], 2 * n, "every case counted as rejected")
    zh.check_eq(stats["accepted"], 3 + n + 1, "the originals and the valid events")
    print(f"{n} rejection reasons, alone and together: each at its sequence, every ack past it")
    d.stop()


if __name__ == "__main__":
    zh.main(test, "test_batch_outcomes")
    sys.exit(1)
