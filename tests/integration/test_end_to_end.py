#!/usr/bin/python3
"""test_end_to_end: the foundation issue's main test.

100,000 valid events (declarations and reversals over four CST days across a month and a
year end), 10 % exact resends and 1 % invalid messages (NDJSON through zonetally-pub, and
raw frames from a pyzmq XPUB socket for what the tool cannot produce) go to a real daemon.
Every total `zonetally get --json` reports, for every touched zone, province and the nation
at every granularity, must equal what this test computed itself, and `stats` must count
every message under the right outcome. Then the daemon is restarted and the same file is
re-published: nothing may change except the duplicate and rejection counters.
"""

import os
import sys

import zmq

import ztgen
import ztharness as zh

N_VALID = int(os.environ.get("ZT_E2E_EVENTS", "100000"))
PUBLISHER = "e2e-test"


def raw_messages(rng):
    """(frames, reason) pairs that only a raw socket can send: transport-level faults."""
    ok = {"event_id": bytes(rng.getrandbits(8) for _ in range(16)), "publisher_id": "raw",
          "sequence": 1, "zone_code": 330100, "direction": 2, "mode": 1, "value_fen": 100,
          "item_count": 1, "declared_at_ms": ztgen.day_start_ms(2022, 12, 31)}
    good = zh.encode_event(ok)
    big = zh.encode_event(dict(ok, padding=b"x" * 4200))
    msgs = [([b"ev.330100", b"\x0a\xff"], "undecodable"),
            ([b"ev.330100", b"\x08"], "undecodable"),
            ([b"ev.330100", b"\xff\xff\xff\xff\xff\xff\xff"], "undecodable"),
            ([b"ev.330100"], "frame_count"),
            ([b"ev.330100", good, b"extra"], "frame_count"),
            ([b"ev.310100", good], "topic_mismatch")]
    out = []
    for frames, reason in msgs:
        out += [(frames, reason)] * 20
    # Oversize last: a daemon that also enforces the size in the socket may drop the peer.
    out += [([b"ev.330100", big], "oversize")] * 20
    return out


def send_raw(endpoint, msgs):
    """Sends multi-frame messages from an XPUB once the daemon's subscription has arrived."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.XPUB)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.setsockopt(zmq.LINGER, 30000)
    sock.connect(endpoint)
    if not sock.poll(30000, zmq.POLLIN):
        raise zh.TestFailure("no subscription from the daemon within 30 s")
    sub = sock.recv()
    zh.check(sub.startswith(b"\x01"), "first XPUB message is a subscription", sub)
    for frames, _ in msgs:
        sock.send_multipart(frames)
    sock.close()
    ctx.term()


def expected_stats(w, raw, rounds):
    """Counters after `rounds` publications of the file (raw messages were sent once)."""
    by_reason = {r: 0 for r in zh.REASONS}
    for reason, n in w.reasons.items():
        by_reason[reason] += n * rounds
    for _, reason in raw:
        by_reason[reason] += 1
    valid_lines = len(w.valid) + w.n_dups
    return {"received": rounds * len(w.lines) + len(raw), "accepted": len(w.valid),
            "duplicates": w.n_dups + (rounds - 1) * valid_lines,
            "rejected": rounds * w.n_invalid + len(raw), "by_reason": by_reason}


def check_stats(stats, want, label):
    """Every counter and every reason, zeros included, exactly."""
    for key in ("received", "accepted", "duplicates", "rejected"):
        zh.check_eq(stats.get(key), want[key], f"{label}: stats {key}")
    got = stats.get("by_reason", {})
    zh.check_eq(sorted(got), sorted(want["by_reason"]), f"{label}: by_reason names")
    for reason, n in want["by_reason"].items():
        zh.check_eq(got[reason], n, f"{label}: by_reason {reason}")
    pubs = {p["id"]: p for p in stats.get("publishers", [])}
    zh.check(PUBLISHER in pubs, f"{label}: publisher {PUBLISHER} in stats", sorted(pubs))
    zh.check_eq(pubs[PUBLISHER]["accepted"], want["accepted"], f"{label}: publisher accepted")


def check_listings(cli, w, zones):
    """`provinces` and `top` agree with the expected all-time totals."""
    listing = cli.json("provinces", "--all")
    provs = listing["provinces"]
    nat = listing["nation"]  # the text table's national line
    zh.check_eq((nat["code"], nat["name_en"]), ("000000", "China (all zones)"),
                "provinces --json: the national line")
    want = w.expected.get("nation", 0, ("all", None))
    for d in ("import", "export", "total"):
        zh.check_eq(nat[d], want[d], f"provinces nation {d}")
    codes = [p["code"] for p in provs]
    zh.check_eq(codes, sorted(codes), "provinces sorted by code")
    want_provs = sorted({f"{p:06d}" for p, _, _ in zones.values()})
    zh.check_eq(codes, want_provs, "every province listed")
    for p in provs:
        want = w.expected.get("province", int(p["code"]), ("all", None))
        for d in ("import", "export", "total"):
            zh.check_eq(p[d], want[d], f"provinces {p['code']} {d}")
    top = cli.json("top", "--by", "total", "-n", "10", "--all")["zones"]
    zh.check_eq(len(top), 10, "top -n 10 length")
    values = [z["total"]["value_fen"] for z in top]
    zh.check_eq(values, sorted(values, reverse=True), "top sorted by total value")
    best = max(w.expected.get("zone", c, ("all", None))["total"]["value_fen"] for c in zones)
    zh.check_eq(values[0], best, "top 1 value")
    for i, z in enumerate(top):
        zh.check_eq(z["rank"], i + 1, "top rank")
        want = w.expected.get("zone", int(z["code"]), ("all", None))
        zh.check_eq(z["total"], want["total"], f"top {z['code']} total")


def run_round(ctx, rounds, raw_now):
    """Starts the daemon, publishes, waits for the commit, checks everything, stops it.

    Raw messages go out in the first round only (raw_now); every round's expected counters
    include them, since the counters persist across restarts.
    """
    bins, state, w, cli = ctx["bins"], ctx["state"], ctx["w"], ctx["cli"]
    d = zh.Daemon(bins, state).start()
    if raw_now:
        send_raw(d.endpoint, ctx["raw"])
    err = zh.publish_file(bins, d.endpoint, ctx["path"], ["--publisher", PUBLISHER])
    print(f"round {rounds}: {err.strip()}")
    want = expected_stats(w, ctx["raw"], rounds)
    stats = cli.wait_received(want["received"])
    check_stats(stats, want, f"round {rounds}")
    n = zh.verify_totals(cli, w.expected, ctx["zones"], f"round {rounds}")
    print(f"round {rounds}: {n} totals views match")
    check_listings(cli, w, ctx["zones"])
    d.stop()


def test(bins, state):
    """Two rounds on one state dir: the second must change nothing but the counters."""
    zones = zh.load_zones(bins)
    w = ztgen.Workload(zones, seed=20221111, n_valid=N_VALID)
    path = os.path.join(state, "events.ndjson")
    w.write(path)
    print(f"workload: {len(w.valid)} valid, {w.n_dups} resends, {w.n_invalid} invalid lines")
    ctx = {"bins": bins, "state": state, "w": w, "cli": zh.Cli(bins, state), "path": path,
           "zones": zones, "raw": raw_messages(w.rng)}
    run_round(ctx, 1, True)
    run_round(ctx, 2, False)


if __name__ == "__main__":
    zh.main(test, "test_end_to_end")
    sys.exit(1)
