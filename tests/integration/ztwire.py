"""ztwire: a plain pyzmq DEALER on the daemon's ROUTER, for tests that shape EventBatches
themselves (no libzonetally): events of any publisher, batches, and IngestAcks decoded.
"""

import hashlib
import time

import zmq

import ztharness as zh

DAY_MS = 86400000
ZONE = 330100


def day_ms(days_ago=2):
    """Midnight UTC of a recent day: inside every default window."""
    return int((time.time() * 1000 // DAY_MS - days_ago) * DAY_MS)


def event(pub, seq, ms, value=None, **extra):
    """A valid export declaration of `pub` at `seq` in ZONE (extra fields override)."""
    tag = hashlib.blake2b(pub.encode(), digest_size=8).digest()
    ev = {"event_id": seq.to_bytes(8, "big") + tag,
          "publisher_id": pub, "sequence": seq, "zone_code": ZONE, "direction": 2,
          "mode": 1, "value_fen": value if value is not None else seq,
          "item_count": 1, "declared_at_ms": ms}
    ev.update(extra)
    return zh.encode_event({k: v for k, v in ev.items() if v is not None})


def batch(events):
    """An EventBatch: field 1, length-delimited, once per event."""
    return b"".join(zh._field_bytes(1, e) for e in events)


def varint(buf, i):
    """Decodes a varint at i; returns (value, next index)."""
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def fields(buf):
    """[(field, value)] of a message with varint and length-delimited fields only."""
    out, i = [], 0
    while i < len(buf):
        tag, i = varint(buf, i)
        if tag & 7 == 0:
            v, i = varint(buf, i)
        elif tag & 7 == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
        else:
            raise zh.TestFailure(f"unexpected wire type in an ack: {tag & 7}")
        out.append((tag >> 3, v))
    return out


def decode_ack(msg):
    """An IngestAck frame as {publisher, through, rejected: [(seq, reason)], details: [str]}
    (details only when something was rejected)."""
    zh.check_eq(msg[0], 3, "message type of the daemon's reply (IngestAck)")
    ack = {"publisher": None, "through": None, "rejected": []}
    for f, v in fields(msg[1:]):
        if f == 1:
            ack["publisher"] = v.decode()
        elif f == 2:
            ack["through"] = v
        elif f == 3:
            r = dict(fields(v))
            ack["rejected"].append((r.get(1, 0), r.get(2, b"").decode()))
            ack.setdefault("details", []).append(r.get(4, b"").decode())
    return ack


def dealer(endpoint):
    """A DEALER connected to the daemon's ROUTER."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.connect(endpoint)
    return sock


class Marks:
    """The highest through_sequence acknowledged per publisher, and every rejection. With
    `sent` ({publisher: highest sequence sent so far}, kept up to date by the caller) an
    ack naming another publisher, or a sequence not sent yet, fails the test."""

    def __init__(self, sent=None):
        self.through = {}
        self.rejected = {}
        self.sent = sent
        self.acks = 0

    def take(self, sock, timeout_ms):
        """Reads one ack if one comes within timeout_ms; returns it or None."""
        if not sock.poll(timeout_ms):
            return None
        a = decode_ack(sock.recv())
        self.acks += 1
        p = a["publisher"]
        if p is not None:
            if self.sent is not None:
                zh.check(a["through"] <= self.sent.get(p, 0),
                         f"ack of {p} through {a['through']} covers only sequences sent "
                         f"(up to {self.sent.get(p, 0)})")
            self.through[p] = max(self.through.get(p, 0), a["through"])
        for seq, reason in a["rejected"]:
            self.rejected.setdefault(p, []).append((seq, reason))
        return a

    def wait(self, sock, want, timeout_s, what, daemon=None, resend=None):
        """Reads acks until every publisher of want {pub: seq} is acknowledged through it;
        fails at once if `daemon` (a zh.Daemon) died meanwhile. resend(publishers), if
        given, is called for those still short after a second without an ack, as a
        reliable publisher does (an ack the daemon could not queue is lost)."""
        deadline = time.monotonic() + timeout_s
        short = {p for p, s in want.items() if self.through.get(p, 0) < s}
        quiet = time.monotonic()
        while short:
            if daemon is not None and daemon.proc.poll() is not None:
                raise zh.TestFailure(f"{what}: zonetallyd died ({daemon.proc.returncode})\n"
                                     + daemon.log_tail())
            now = time.monotonic()
            if now >= deadline:
                raise zh.TestFailure(f"{what}: {len(short)} publishers never acknowledged "
                                     f"through their last sequence, e.g. "
                                     f"{[(p, self.through.get(p, 0), want[p]) for p in list(short)[:3]]}"
                                     " (publisher, got, want)")
            a = self.take(sock, 200)
            if a is None:
                if resend is not None and now - quiet >= 1.0:
                    resend(sorted(short))
                    quiet = now
                continue
            quiet = now
            p = a["publisher"]
            if p in short and self.through[p] >= want[p]:
                short.discard(p)
