#!/usr/bin/python3
"""test_reliable_wire: the acknowledged path's wire protocol, as an external integrator sees it,
and the rejects an operator inspects.

A plain pyzmq DEALER (no libzonetally) talks to the daemon's ROUTER: one TradeEvent (0x01) is
acknowledged with its sequence; an EventBatch (0x02) with a hole is acknowledged only up to the
hole, and past it once the hole is filled; a rejected event comes back in IngestAck.rejected
with its reason; an oversize or unknown-type message is rejected without a publisher. Then
`zonetally rejects` must show the bounded list (rejects_max 5, the rest counted as dropped),
filter by reason, keep the original length of a truncated payload, and write the bytes out.
"""

import json
import os
import sys

import zmq

import ztharness as zh
import ztwire

PUB = "wire-test"
DAY_MS = 86400000


def event(seq, zone=330100, ms=None):
    """A valid declaration (or, with another zone, an invalid one) of publisher PUB."""
    ms = ms if ms is not None else (zh.time.time() * 1000 // DAY_MS - 2) * DAY_MS
    return zh.encode_event({
        "event_id": seq.to_bytes(8, "big") + int(ms).to_bytes(8, "big"),
        "publisher_id": PUB, "sequence": seq, "zone_code": zone, "direction": 2,
        "mode": 1, "value_fen": 100 * seq, "item_count": 1, "declared_at_ms": int(ms)})


def batch(events):
    """An EventBatch: field 1, length-delimited, once per event."""
    return b"".join(zh._field_bytes(1, e) for e in events)


def recv_ack(sock):
    """The next IngestAck as {publisher, through, rejected: [(seq, reason)]}."""
    zh.check(sock.poll(10000), "an IngestAck within 10 s")
    return ztwire.decode_ack(sock.recv())


def wire(sock):
    """Acks: single event, a hole held back then filled, rejections, bad messages."""
    sock.send(b"\x01" + event(1))
    a = recv_ack(sock)
    zh.check_eq((a["publisher"], a["through"], a["rejected"]), (PUB, 1, []), "ack of seq 1")
    sock.send(b"\x02" + batch([event(2), event(4), event(5)]))
    zh.check_eq(recv_ack(sock)["through"], 2, "ack held at the hole (3 missing)")
    sock.send(b"\x02" + batch([event(3), event(6, zone=999999)]))
    a = recv_ack(sock)
    zh.check_eq(a["through"], 6, "ack past the filled hole, through the rejected event")
    zh.check_eq(a["rejected"], [(6, "unknown_zone")], "the rejection in the ack")
    sock.send(b"\x01" + b"\x00" * 5000)
    a = recv_ack(sock)
    zh.check_eq((a["publisher"], a["rejected"]), (None, [(0, "oversize")]), "oversize")
    sock.send(b"\x07hello")
    a = recv_ack(sock)
    zh.check_eq(a["rejected"], [(0, "undecodable")], "unknown message type")
    for seq in range(7, 12):
        sock.send(b"\x01" + event(seq, zone=999999))
        recv_ack(sock)
    sock.send(b"\x01" + b"\x00" * 5000)
    recv_ack(sock)


def rejects(bins, state):
    """The bounded rejects list: kept, dropped, filter, original length, raw bytes."""
    cli = zh.Cli(bins, state)
    got = cli.json("rejects", "--limit", "100")
    zh.check_eq((got["kept"], got["dropped"]), (5, 4), "rejects kept and dropped (of 9)")
    zh.check_eq([r["reason"] for r in got["rejects"]], ["oversize"] + ["unknown_zone"] * 4,
                "newest first")
    big = got["rejects"][0]
    zh.check_eq((big["raw_len"], big["kept_len"]), (5000, 1024), "original length, truncated")
    zh.check_eq(got["rejects"][1]["sequence"], 11, "newest unknown_zone's sequence")
    zh.check_eq(got["rejects"][1]["publisher"], PUB, "publisher read from the kept bytes")
    raw = os.path.join(state, "reject.bin")
    got = cli.json("rejects", "--reason", "unknown_zone", "--limit", "1", "--raw", raw)
    zh.check_eq(len(got["rejects"]), 1, "--limit 1")
    with open(raw, "rb") as f:
        zh.check_eq(f.read(), event(11, zone=999999), "--raw writes the message's bytes")
    rc, out, err = zh.run([bins.cli, "--state-dir", state, "rejects", "--reason", "nope"])
    zh.check_eq(rc, 2, f"unknown --reason is a usage error ({err.strip()})")
    rc, out, _ = zh.run([bins.cli, "--state-dir", state, "rejects"])
    zh.check(rc == 0 and "dropped 4" in out, "text output", out)
    stats = cli.stats()
    zh.check_eq((stats["rejects_kept"], stats["rejects_dropped"]), (5, 4), "stats rejects")


def test(bins, state):
    """Wire protocol first, then what the operator sees."""
    conf = os.path.join(state, "small.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write("[store]\nrejects_max = 5\n")
    d = zh.Daemon(bins, state, ["-c", conf]).start()
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(d.ingest_endpoint)
    try:
        wire(sock)
    finally:
        sock.close()
        ctx.term()
    d.stop()
    rejects(bins, state)
    print(json.dumps(zh.Cli(bins, state).json("rejects", "--limit", "1")["rejects"][0]))


if __name__ == "__main__":
    zh.main(test, "test_reliable_wire")
    sys.exit(1)
