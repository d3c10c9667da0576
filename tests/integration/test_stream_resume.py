#!/usr/bin/python3
"""test_stream_resume: GET /api/stream across disconnections, with raw HTTP.

A reference stream stays connected throughout. A second one takes the same snapshot, is
cut in the middle of a commit (after an update whose id is "N.K"), misses a whole batch of
events, and reconnects with Last-Event-ID: together its two connections must carry exactly
the reference's updates, none lost, none twice, and the state they build must equal
`zonetally get --json`. An id from the future or garbage gets a fresh snapshot; after a
daemon restart the last id resumes without one.
"""

import os
import sys

import ztharness as zh
import zthttp


def key(ev):
    """What identifies one update: its id and its block."""
    b = ev["data"]
    return (ev["id"], b["level"], b["code"], b["period"]["granularity"], b["period"]["bucket"])


def updates(stream, stop_seq):
    """Reads updates until one of commit stop_seq (or later) is the last of its commit."""
    got = []
    while True:
        ev, _ = stream.until(lambda e: e.get("event") in ("update", None) and "id" in e,
                             "an update")
        if ev.get("event") == "update":
            got.append(ev)
        if "." not in ev["id"] and int(ev["id"]) >= stop_seq:
            return got


def apply(view, events):
    """Applies snapshot blocks or updates to {block key: {dir: totals}}."""
    for b in events:
        k = (b["level"], b["code"], b["period"]["granularity"], b["period"]["bucket"])
        view.setdefault(k, {}).update({d: b[d] for d in ("import", "export", "total") if d in b})


def test(bins, work):
    state, conf, cli, d, addr = zthttp.start(bins, work)
    zh.publish_file(bins, d.endpoint, zthttp.today_events(bins, os.path.join(work, "a"), 300, 1, "sa"))
    cli.wait_received(300)

    ref, cut = zthttp.Stream(addr), zthttp.Stream(addr)
    snap_ref, _ = ref.until(lambda e: e.get("event") == "snapshot", "reference snapshot")
    snap, _ = cut.until(lambda e: e.get("event") == "snapshot", "snapshot")
    zh.check_eq(snap["id"], snap_ref["id"], "both snapshots at the same commit")

    # batch B: the cut stream reads into it and stops inside a commit
    zh.publish_file(bins, d.endpoint, zthttp.today_events(bins, os.path.join(work, "b"), 400, 2, "sb"), ["--rate", "2000"])
    stats = cli.wait_received(700)
    first = []
    while True:
        ev, _ = cut.until(lambda e: e.get("event") == "update", "an update")
        first.append(ev)
        if "." in ev["id"] and len(first) > 3:
            break
    cut.close()
    last_id = first[-1]["id"]

    # batch C while it is away
    zh.publish_file(bins, d.endpoint, zthttp.today_events(bins, os.path.join(work, "c"), 300, 3, "sc"))
    stats = cli.wait_received(1000)
    final_seq = stats["feed_seq"]
    want = updates(ref, final_seq)

    again = zthttp.Stream(addr, last_id=last_id)
    zh.check_eq(again.status, 200, "status of the resumed stream")
    second = updates(again, final_seq)
    zh.check(all(e.get("event") != "snapshot" for e in second), "resumed without a snapshot")
    got = [key(e) for e in first + second]
    zh.check_eq(len(got), len(set(got)), "no update received twice")
    zh.check_eq(got, [key(e) for e in want], "exactly the reference's updates, in order")

    view = {}
    apply(view, snap["data"]["blocks"])
    apply(view, [e["data"] for e in first + second])
    nation = cli.json("get", "000000")
    k = ("nation", "000000", "day", nation["period"]["bucket"])
    for d_ in ("import", "export", "total"):
        zh.check_eq(view[k][d_], nation[d_], f"stream-built national {d_} vs the CLI")
    ref.close()
    again.close()

    for bad in ["999999999", "garbage", "1.0", str(final_seq + 5) + ".1", "9" * 40]:
        s = zthttp.Stream(addr, last_id=bad)
        ev = s.next()
        zh.check_eq(ev.get("event"), "snapshot", f"Last-Event-ID {bad!r}: a fresh snapshot")
        s.close()

    d.stop()
    d2 = zh.Daemon(bins, state, ["-c", conf]).start()
    s = zthttp.Stream(zthttp.metrics_addr(state), "?gran=day", last_id=str(final_seq))
    zh.publish_file(bins, d2.endpoint, zthttp.today_events(bins, os.path.join(work, "d"), 50, 4, "sd"))
    ev, _ = s.until(lambda e: e.get("event") in ("update", "snapshot"), "first event after restart")
    zh.check_eq(ev["event"], "update", "after a restart, the last id resumes without a snapshot")
    s.close()
    d2.stop()
    print(f"{len(first)} + {len(second)} updates across the cut at {last_id}, as the reference")


if __name__ == "__main__":
    zh.main(test, "test_stream_resume")
    sys.exit(1)
