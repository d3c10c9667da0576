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


def event_dict(seq, zone=330100, ms=None):
    """The fields of event(), to alter before encoding."""
    ms = ms if ms is not None else (zh.time.time() * 1000 // DAY_MS - 2) * DAY_MS
    return {"event_id": seq.to_bytes(8, "big") + int(ms).to_bytes(8, "big"),
            "publisher_id": PUB, "sequence": seq, "zone_code": zone, "direction": 2,
            "mode": 1, "value_fen": 100 * seq, "item_count": 1, "declared_at_ms": int(ms)}


def event(seq, zone=330100, ms=None):
    """A valid declaration (or, with another zone, an invalid one) of publisher PUB."""
    return zh.encode_event(event_dict(seq, zone, ms))


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
    zh.check_eq(a["details"], ["zone_code 999999"], "the rejection's detail in the ack")
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


def with_dealer(d, fn):
    """Runs fn(sock) with a DEALER connected to the daemon's acknowledged endpoint."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(d.ingest_endpoint)
    try:
        fn(sock)
    finally:
        sock.close()
        ctx.term()


def details(bins, state, conf):
    """Each rejection names what was wrong, alike in the ack, the log and `rejects`."""
    day0 = (zh.time.time() * 1000 // DAY_MS - 2) * DAY_MS
    old = int(day0 - 400 * DAY_MS)
    no_value = event_dict(12)
    del no_value["value_fen"], no_value["item_count"]
    cases = [  # (event, reason, detail in the ack, detail in `rejects` when it differs)
        (no_value, "missing_field", "value_fen, item_count", None),
        (dict(event_dict(13), mode=2, direction=1), "mode_direction",
         "mode 9710 with direction IMPORT", None),
        (dict(event_dict(14), hs_code="12"), "bad_hs_code", "hs_code '12'", None),
        (dict(event_dict(15), value_fen=-5), "negative_value",
         "value_fen -5 (allowed 0..100000000000)", "value_fen -5"),
        (event_dict(16, ms=old), "too_old", f"declared_at_ms {old} (", None),
    ]
    d = zh.Daemon(bins, state, ["-c", conf]).start()
    a = None

    def send_cases(sock):
        nonlocal a
        sock.send(b"\x02" + batch([zh.encode_event(ev) for ev, _, _, _ in cases]))
        a = recv_ack(sock)
    with_dealer(d, send_cases)
    zh.check_eq([r for _, r in a["rejected"]], [c[1] for c in cases], "the rejections' reasons")
    for (_, reason, want, _), got in zip(cases, a["details"]):
        zh.check(want in got, f"ack detail of {reason}", got, want)
    zh.check("and the watermark" not in a["details"][-1] and "dedup_window_days 35 before the "
             "watermark" in a["details"][-1], "too_old names the window and the watermark",
             a["details"][-1])
    log = d.log_tail(40)
    zh.check("value_fen, item_count" in log and "hs_code '12'" in log,
             "the log says the detail", log)
    d.stop()
    listed = zh.Cli(bins, state).json("rejects", "--limit", str(len(cases)))["rejects"]
    for (_, reason, want, cli_want), r in zip(reversed(cases), listed):
        zh.check_eq(r["reason"], reason, "rejects order")
        zh.check((cli_want or want) in (r["detail"] or ""), f"rejects detail of {reason}",
                 r["detail"], cli_want or want)
    rc, out, _ = zh.run([bins.cli, "--state-dir", state, "rejects", "--limit", "1"])
    zh.check(rc == 0 and "newest first" in out and "sequence 16: declared_at_ms is older than "
             f"the dedup window: declared_at_ms {old}" in out, "text shows the detail", out)


def test(bins, state):
    """Wire protocol first, then what the operator sees."""
    conf = os.path.join(state, "small.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write("[store]\nrejects_max = 5\n")
    d = zh.Daemon(bins, state, ["-c", conf]).start()
    with_dealer(d, wire)
    d.stop()
    rejects(bins, state)
    details(bins, state, conf)
    print(json.dumps(zh.Cli(bins, state).json("rejects", "--limit", "1")["rejects"][0]))


if __name__ == "__main__":
    zh.main(test, "test_reliable_wire")
    sys.exit(1)
