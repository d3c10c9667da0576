#!/usr/bin/python3
"""test_hostile: hostile input on every socket of a running daemon (issue 6).

Truncated protobuf, wrong wire types, 0-length and 1 MiB frames, 1 and 3 frames, invalid
UTF-8, enum values out of range, ids of the wrong length, INT64_MAX values meant to
overflow the roll-ups, timestamps far in the future and before 2015: each message must be
rejected with its own reason (`zonetally stats --json`, by_reason), the daemon must stay up,
and the totals and the dedup set must be byte-for-byte what they were before (mdb_dump).

The daemon runs with max_value_fen = INT64_MAX, so that a value near the top of the int64
range passes validation and the store's checked arithmetic is what stops the overflow.

Sockets are listed in SOCKETS: each entry opens a client for one daemon socket and sends raw
frames. The acknowledged ROUTER ingest (issue 3) and the query socket (issue 4) are added
there by name; the event cases below apply to every ingest socket as they are.
"""

import os
import subprocess
import time

import zmq

import ztgen
import ztharness as zh
import ztops

INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)
DAY_2022 = ztgen.day_start_ms(2022, 12, 1) + 3600 * 1000
DUMPED_DBS = ["totals", "dedup", "dedup_age"]


class SubSocket:
    """Issue 1's PUB -> SUB ingest. An XPUB connects and waits for the daemon's subscription,
    so that nothing is sent into the void before the subscription is live."""

    name = "sub"

    def __init__(self, ctx, daemon):
        self.sock = ctx.socket(zmq.XPUB)
        self.sock.setsockopt(zmq.SNDHWM, 0)
        self.sock.setsockopt(zmq.LINGER, 5000)
        self.sock.connect(daemon.endpoint)
        if not self.sock.poll(30000, zmq.POLLIN):
            raise zh.TestFailure("no subscription from the daemon within 30 s")
        sub = self.sock.recv()
        zh.check(sub.startswith(b"\x01"), "first XPUB message is a subscription", sub)

    def send(self, frames):
        """Sends one multipart message as given, frame by frame."""
        self.sock.send_multipart(frames)

    def close(self):
        self.sock.close()


class RouterSocket:
    """Issue 3's acknowledged ROUTER ingest: a DEALER sends one frame, type byte 0x01 and a
    TradeEvent. The topic frame of a SUB case has no counterpart here, so [topic, payload]
    becomes [0x01 + payload]; the framing cases are translated by translate()."""

    name = "router"

    def __init__(self, ctx, daemon):
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 5000)
        self.sock.connect(daemon.ingest_endpoint)

    @staticmethod
    def translate(label, msg, reason):
        """The case as the ROUTER sees it, or None where it does not apply (topics)."""
        if reason == "topic_mismatch":
            return None
        if reason == "frame_count":
            # 1 frame is the normal shape here; 0 and 2+ payload frames are the faults.
            extra = [b"\x01" + f for f in msg[1:]] or [b"\x01"]
            return label, [b""] if label == "1 frame" else [b"\x01"] + extra, reason
        return label, [b"\x01" + msg[1]], reason

    def send(self, frames):
        self.sock.send_multipart(frames)

    def close(self):
        self.sock.close()


# The query socket has request cases of its own (test_query_hostile below).
SOCKETS = [SubSocket, RouterSocket]


class Ids:
    """Fresh 16-byte event ids, so that no case is a mere duplicate of another."""

    def __init__(self):
        self.n = 0

    def __call__(self):
        self.n += 1
        return self.n.to_bytes(16, "big")


def event(ids, **over):
    """A valid Hangzhou export declaration of 2022-12-01 with some fields replaced; a field
    given as None is left out."""
    ev = {"event_id": ids(), "publisher_id": "hostile", "sequence": ids.n, "zone_code": 330100,
          "direction": 2, "mode": 1, "value_fen": 100, "item_count": 1,
          "declared_at_ms": DAY_2022}
    ev.update(over)
    return {k: v for k, v in ev.items() if v is not None}


def frames(ev, topic=None):
    """Topic and payload frames of an event dict (see ztharness.encode_event)."""
    t = topic if topic is not None else f"ev.{ev.get('zone_code', 330100):06d}".encode()
    return [t, zh.encode_event(ev)]


def key_varint(num, wire_type):
    """A field key with any wire type, right or wrong."""
    return zh._varint(num << 3 | wire_type)


def transport_cases(ids):
    """Framing and size faults: (label, frames, reason)."""
    good = zh.encode_event(event(ids))
    big = zh.encode_event(event(ids, padding=b"x" * (1 << 20)))
    return [
        ("1 frame", [b"ev.330100"], "frame_count"),
        ("3 frames", [b"ev.330100", zh.encode_event(event(ids)), b"x"], "frame_count"),
        ("3 frames, empty", [b"ev.330100", b"", b""], "frame_count"),
        ("0-length payload", [b"ev.330100", b""], "missing_field"),
        ("1 MiB zero payload", [b"ev.330100", bytes(1 << 20)], "oversize"),
        ("1 MiB event", [b"ev.330100", big], "oversize"),
        ("truncated mid-field", [b"ev.330100", good[: len(good) - 3]], "undecodable"),
        ("truncated length", [b"ev.330100", good[:1] + b"\x10" + good[2:6]], "undecodable"),
        ("lone key", [b"ev.330100", b"\x08"], "undecodable"),
        ("varint of 11 bytes", [b"ev.330100", b"\x08" + b"\xff" * 10 + b"\x01"], "undecodable"),
        ("garbage", [b"ev.330100", b"\xff\xff\xff\xff\xff\xff\xff"], "undecodable"),
        ("topic of another zone", frames(event(ids), b"ev.440300"), "topic_mismatch"),
        ("topic with junk", frames(event(ids), b"ev.330100\x00"), "topic_mismatch"),
    ]


def wire_type_cases(ids):
    """Known fields sent with the wrong wire type."""
    good = zh.encode_event(event(ids, value_fen=None))
    return [
        ("value_fen as bytes", [b"ev.330100", good + key_varint(7, 2) + b"\x01\x05"],
         "undecodable"),
        ("value_fen as fixed64", [b"ev.330100", good + key_varint(7, 1) + bytes(8)],
         "undecodable"),
        ("event_id as varint", [b"ev.330100", key_varint(1, 0) + b"\x05" + good],
         "undecodable"),
        ("zone_code as fixed32", [b"ev.330100", good + key_varint(4, 5) + bytes(4)],
         "undecodable"),
    ]


def field_cases(ids):
    """Lengths, enum ranges and string bytes."""
    return [
        ("event_id of 15 bytes", frames(event(ids, event_id=bytes(15))), "bad_event_id"),
        ("event_id of 17 bytes", frames(event(ids, event_id=bytes(17))), "bad_event_id"),
        ("ref_event_id of 0 bytes", frames(event(ids, kind=1, ref_event_id=b"")),
         "bad_event_id"),
        ("direction 7", frames(event(ids, direction=7)), "bad_direction"),
        ("direction -1", frames(event(ids, direction=-1)), "bad_direction"),
        ("mode 99", frames(event(ids, mode=99)), "bad_mode"),
        ("kind 9", frames(event(ids, kind=9, ref_event_id=bytes(16))), "bad_kind"),
        ("publisher invalid UTF-8", frames(event(ids, publisher_id=b"cust\xff\xfe")),
         "bad_utf8"),
        ("publisher with NUL", frames(event(ids, publisher_id=b"ok\x00evil")), "bad_utf8"),
        ("publisher overlong UTF-8", frames(event(ids, publisher_id=b"a\xc0\xaf")), "bad_utf8"),
        ("hs_code surrogate", frames(event(ids, hs_code=b"61\xed\xa0\x80")), "bad_utf8"),
        ("publisher UTF-8 not in charset", frames(event(ids, publisher_id="杭州")),
         "bad_publisher"),
        ("publisher of 65 bytes", frames(event(ids, publisher_id="p" * 65)), "bad_publisher"),
        ("hs_code letters", frames(event(ids, hs_code="61a9")), "bad_hs_code"),
        ("sequence 0", frames(event(ids, sequence=0)), "bad_sequence"),
        ("negative value", frames(event(ids, value_fen=-1)), "negative_value"),
        ("INT64_MIN value", frames(event(ids, value_fen=INT64_MIN)), "negative_value"),
    ]


def time_cases(ids):
    """Timestamps far in the future and before 2015."""
    ten_years = int(time.time() * 1000) + 10 * 366 * 86400 * 1000
    return [
        ("in ten years", frames(event(ids, declared_at_ms=ten_years)), "future_time"),
        ("INT64_MAX time", frames(event(ids, declared_at_ms=INT64_MAX)), "future_time"),
        ("2014-06-01", frames(event(ids, declared_at_ms=ztgen.day_start_ms(2014, 6, 1))),
         "too_early"),
        ("time 0", frames(event(ids, declared_at_ms=0)), "too_early"),
        ("time -1", frames(event(ids, declared_at_ms=-1)), "too_early"),
        ("INT64_MIN time", frames(event(ids, declared_at_ms=INT64_MIN)), "too_early"),
    ]


def overflow_cases(ids):
    """Values that pass validation (max_value_fen = INT64_MAX) and would overflow a total:
    the seed already holds INT64_MAX - 5 in Hangzhou, Zhejiang and the nation."""
    return [
        ("INT64_MAX in the same zone", frames(event(ids, value_fen=INT64_MAX)), "overflow"),
        ("6 fen in the same zone", frames(event(ids, value_fen=6)), "overflow"),
        # Shenzhen's own totals have room; only the nation's would overflow. Nothing at all
        # may change, not even Shenzhen's zone totals.
        ("INT64_MAX in another province",
         frames(event(ids, zone_code=440300, value_fen=INT64_MAX)), "overflow"),
        ("a reversal of the seed with a changed value",
         frames(event(ids, kind=1, ref_event_id=SEED_ID, value_fen=INT64_MAX)),
         "reversal_mismatch"),
    ]


SEED_ID = b"\xee" * 16
UNKNOWN_FIELD_CASE = ("unknown fields 99 and 1000", None, "bad_direction")


def unknown_field_frames(ids):
    """A rejected event that also carries two fields no version of the schema has."""
    payload = zh.encode_event(event(ids, direction=0))
    payload += zh._field_varint(99, 1) + zh._field_bytes(1000, b"future")
    return [b"ev.330100", payload]


def dump(store):
    """mdb_dump of the databases that hold totals and the dedup set."""
    out = {}
    for db in DUMPED_DBS:
        p = subprocess.run(["mdb_dump", "-s", db, store], capture_output=True, timeout=60)
        zh.check_eq(p.returncode, 0, f"mdb_dump -s {db}: {p.stderr.decode(errors='replace')}")
        out[db] = p.stdout
    return out


def write_config(state):
    """The daemon's configuration: only max_value_fen departs from the defaults."""
    path = os.path.join(state, "hostile.conf")
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"[validation]\nmax_value_fen = {INT64_MAX}\n")
    return path


def seed(sock, cli):
    """One accepted declaration of INT64_MAX - 5 fen in Hangzhou, the overflow's base."""
    ev = {"event_id": SEED_ID, "publisher_id": "seed", "sequence": 1, "zone_code": 330100,
          "direction": 2, "mode": 1, "value_fen": INT64_MAX - 5, "item_count": 1,
          "declared_at_ms": DAY_2022}
    sock.send(frames(ev))
    s = cli.wait_received(1, timeout=30)
    zh.check_eq(s["accepted"], 1, "the seed event was accepted")


def send_case(sock, cli, daemon, label, msg, reason):
    """Sends one hostile message and checks it was counted once, under `reason` only."""
    before = cli.stats()
    sock.send(msg)
    after = cli.wait_received(before["received"] + 1, timeout=30)
    zh.check(daemon.proc.poll() is None, f"{sock.name} {label}: daemon still running",
             daemon.log_tail())
    for key in ("accepted", "duplicates"):
        zh.check_eq(after[key], before[key], f"{sock.name} {label}: {key}")
    zh.check_eq(after["rejected"], before["rejected"] + 1, f"{sock.name} {label}: rejected")
    was, now = before["by_reason"], after["by_reason"]
    changed = {r: now[r] - was.get(r, 0) for r in now if now[r] != was.get(r, 0)}
    zh.check_eq(changed, {reason: 1}, f"{sock.name} {label}: reason")


def check_unknown_fields_metric(state):
    """The message with unknown fields shows in the Prometheus counter."""
    addr = ztops.endpoints(state)["metrics"][0]

    def counted():
        v = ztops.metric_value(ztops.scrape(addr), "zonetally_unknown_fields_messages_total")
        return v is not None and v >= 1

    zh.wait_for(counted, 30, "zonetally_unknown_fields_messages_total >= 1", interval=0.1)


def check_logged(daemon, reasons):
    """Each reason was logged at least once (the log is rate-limited per reason, not muted)."""
    def all_logged():
        with open(daemon.log_path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        return all(f"rejected ({r})" in text for r in reasons)

    zh.wait_for(all_logged, 30, f"a log line for each of {sorted(reasons)}", interval=0.1)


def pb_fields(data):
    """Top-level fields of a protobuf message as {number: last value} (varint and bytes)."""
    out, i = {}, 0
    while i < len(data):
        key, i = _read_varint(data, i)
        if key & 7 == 0:
            out[key >> 3], i = _read_varint(data, i)
        elif key & 7 == 2:
            n, i = _read_varint(data, i)
            out[key >> 3], i = data[i:i + n], i + n
        else:
            raise zh.TestFailure(f"unexpected wire type in a QueryResponse: {data!r}")
    return out


def _read_varint(data, i):
    n = shift = 0
    while True:
        b = data[i]
        n |= (b & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if b < 0x80:
            return n, i


def query_cases():
    """Hostile query requests: (label, frames, whether a reply is due)."""
    stats = zh._field_varint(1, 7) + zh._field_varint(2, 5)
    snap = zh._field_varint(1, 8) + zh._field_varint(2, 6)
    return [
        ("truncated", [stats[:-1]], True),
        ("lone key", [b"\x08"], True),
        ("op as bytes", [zh._field_bytes(2, b"\x05")], True),
        ("request_id as fixed64", [b"\x09" + bytes(8)], True),
        ("0-length frame", [b""], True),
        ("1 MiB frame", [bytes(1 << 20)], True),
        ("REQ envelope, empty body", [], True),
        ("3 frames", [b"a", b"b", stats], True),
        ("5 frames", [stats] * 5, True),
        ("prefix invalid UTF-8", [snap + zh._field_bytes(7, b"33\xff\xfe")], True),
        ("prefix not digits", [snap + zh._field_bytes(7, b"33a")], True),
        ("op 99", [zh._field_varint(2, 99)], True),
        ("op 2^32-1", [zh._field_varint(2, (1 << 32) - 1)], True),
        ("op -1", [zh._field_varint(2, (1 << 64) - 1)], True),
    ]


def query_hostile(ctx, daemon):
    """Each hostile request gets an error reply, and a valid one is answered afterwards."""
    valid = zh._field_varint(1, 42) + zh._field_varint(2, 5)
    for label, msg, reply_due in query_cases():
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(daemon.query)
        if msg:
            sock.send_multipart(msg)
        else:
            # [identity, "", ""]: the REQ envelope with an empty body
            sock.send(b"", zmq.SNDMORE)
            sock.send(b"")
            msg = None
        got = sock.poll(10000, zmq.POLLIN)
        zh.check(got or not reply_due, f"query {label}: a reply within 10 s")
        if got:
            f = pb_fields(sock.recv_multipart()[-1])
            zh.check(f.get(2), f"query {label}: the reply carries an error", f)
        zh.check(daemon.proc.poll() is None, f"query {label}: daemon still running",
                 daemon.log_tail())
        sock.send(valid)
        zh.check(sock.poll(10000, zmq.POLLIN), f"query after {label}: valid request answered")
        f = pb_fields(sock.recv_multipart()[-1])
        zh.check(2 not in f and f.get(1) == 42, f"query after {label}: a good reply", f)
        sock.close()


def test(bins, work):
    state = os.path.join(work, "state")
    os.mkdir(state)
    store = os.path.join(state, "store")
    daemon = zh.Daemon(bins, state, ["--config", write_config(state)]).start()
    cli = zh.Cli(bins, state)
    ctx = zmq.Context()
    ids = Ids()
    seeded = False
    try:
        for make in SOCKETS:
            sock = make(ctx, daemon)
            if not seeded:
                seed(sock, cli)
                seeded = True
                reference = dump(store)
            cases = (transport_cases(ids) + wire_type_cases(ids) + field_cases(ids)
                     + time_cases(ids) + overflow_cases(ids))
            cases.append((UNKNOWN_FIELD_CASE[0], unknown_field_frames(ids),
                          UNKNOWN_FIELD_CASE[2]))
            for case in cases:
                case = make.translate(*case) if hasattr(make, "translate") else case
                if case is not None:
                    send_case(sock, cli, daemon, *case)
            sock.close()
            zh.check_eq(dump(store), reference, f"{make.name}: totals and dedup unchanged")
        query_hostile(ctx, daemon)
        check_unknown_fields_metric(state)
        check_logged(daemon, {reason for _, _, reason in cases})
    finally:
        # destroy, not term: after a failure a socket may still be open, and term() would
        # wait for it forever instead of letting the failure be reported.
        ctx.destroy(linger=0)
    daemon.stop()
    zh.check_eq(dump(store), reference, "totals and dedup unchanged after a clean stop")


if __name__ == "__main__":
    zh.main(test, "test_hostile")
