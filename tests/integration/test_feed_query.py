#!/usr/bin/python3
"""test_feed_query: the live feed can be joined late and never misses or double-applies.

Watchers join while 200,000 events are being ingested, one following everything and one a
topic filter; a slow watcher (tiny receive HWM, stopped with SIGSTOP while another 100,000
events are committed, more updates than every buffer between it and the daemon holds) is
forced into losses and must recover by re-snapshot; the daemon is restarted under the
watchers.
At the end each watcher's view equals the store, block by block (all 18 totals), read with
`zonetally get`. Then the query socket: answers equal the local store's, malformed and
oversize requests get error replies, and the daemon keeps serving.
"""

import json
import os
import signal
import subprocess
import sys
import time

import ztharness as zh
import ztwatch as zw

N_EVENTS = int(os.environ.get("ZT_FEED_EVENTS", "200000"))
N_STALLED = 100000  # committed while the slow watcher is stopped: ~20 MB of updates
RATE = "40000"


def publish(bins, d, n, seed, start_seq=1, rate=RATE):
    """Starts zonetally-pub --generate (today's CST day) in the background."""
    return subprocess.Popen([bins.pub, "--endpoint", d.endpoint, "--generate", str(n),
                             "--day", zw.today_cst(), "--seed", str(seed), "--rate", rate,
                             "--publisher", f"feedtest{seed}", "--start-seq", str(start_seq),
                             "--timeout", "60"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def final_feed_seq(cli, count):
    """Waits until `count` messages are committed; returns the store's feed_seq."""
    return cli.wait_received(count, timeout=300)["feed_seq"]


def pinned(d):
    """Command-line flags that restart the daemon on the same ports."""
    return ["--sub-bind", d.endpoint, "--feed-bind", d.feed, "--query-bind", d.query]


def stall(bins, d, cli, slow):
    """Stops the slow watcher (once it follows the feed) while N_STALLED more events are
    committed, then lets it go on. Stopped, it reads nothing: its socket's queue, the TCP
    buffers and the daemon's send queue fill and the daemon drops the rest for it. (Leaving
    its output unread made it stall only once the pipe filled, which a fast daemon could
    outrun: the test then saw no loss.)"""
    zh.wait_for(lambda: slow.snapshots() >= 1, 120, "the slow watcher took its snapshot")
    before = cli.stats()["received"]
    os.kill(slow.proc.pid, signal.SIGSTOP)
    try:
        pub = publish(bins, d, N_STALLED, seed=13, rate="0")
        zh.check_eq(pub.wait(timeout=300), 0, "zonetally-pub exit status (slow watcher stopped)")
        cli.wait_received(before + N_STALLED, timeout=300)
    finally:
        os.kill(slow.proc.pid, signal.SIGCONT)


def test(bins, state):
    zones = zh.load_zones(bins)
    conf = zw.write_config(os.path.join(state, "feed.conf"), "[feed]\nsndhwm = 50\n")
    d = zh.Daemon(bins, state, ["-c", conf]).start()
    cli = zh.Cli(bins, state)
    local = [bins.cli, "--state-dir", state]
    pub = publish(bins, d, N_EVENTS, seed=11)
    try:
        zh.wait_for(lambda: cli.stats().get("received", 0) >= N_EVENTS // 10, 120,
                    "a tenth of the input committed", interval=0.02)
        all_w = zw.Watcher(bins, local)
        zh_w = zw.Watcher(bins, local, codes=["33"])
        slow = zw.Watcher(bins, local, rcvhwm=1)
        zh.check(pub.poll() is None, "watchers joined while the publisher was still sending")
        zh.check_eq(pub.wait(timeout=300), 0, "zonetally-pub exit status")
    finally:
        if pub.poll() is None:
            pub.kill()
    # The publisher's exit does not mean its last messages are committed: stall() counts
    # from the store's figure, so it must start from all of them.
    cli.wait_received(N_EVENTS, timeout=300)
    stall(bins, d, cli, slow)
    seq = final_feed_seq(cli, N_EVENTS + N_STALLED)
    for w, label in ((all_w, "all"), (zh_w, "prefix 33"), (slow, "slow")):
        w.wait_synced(seq)
    zh.check(slow.snapshots() >= 2, "the slow watcher lost updates and re-snapshotted",
             slow.snapshots(), ">= 2")
    day = zw.today_cst()
    n = zw.compare_view(local, all_w.view(), zones, "all", zw.expected_keys(zones, [], day))
    n += zw.compare_view(local, zh_w.view(), zones, "prefix 33",
                         zw.expected_keys(zones, ["33"], day))
    zh.check(all(k[1].startswith("33") for k in zh_w.view()), "prefix 33 holds only 33xxxx")
    n += zw.compare_view(local, slow.view(), zones, "slow")
    print(f"{n} blocks equal the store; slow watcher took {slow.snapshots()} snapshots")

    # A restart under the watchers: new epoch, same ports; they must re-snapshot and follow.
    d.stop()
    d2 = zh.Daemon(bins, state, ["-c", conf] + pinned(d)).start()
    pub = publish(bins, d2, 20000, seed=12)
    zh.check_eq(pub.wait(timeout=300), 0, "zonetally-pub exit status after the restart")
    seq = final_feed_seq(cli, N_EVENTS + N_STALLED + 20000)
    for w in (all_w, zh_w, slow):
        w.wait_synced(seq)
    n = zw.compare_view(local, all_w.view(), zones, "all after restart")
    n += zw.compare_view(local, zh_w.view(), zones, "prefix 33 after restart")
    print(f"{n} blocks equal the store after a daemon restart")
    for w in (all_w, zh_w, slow):
        w.stop()
    queries(bins, d2, state, zones)
    d2.stop()


def reject_some(bins, d, state, n):
    """n events of an unknown zone, so that the store keeps rejects to report."""
    path = os.path.join(state, "unknown.ndjson")
    now = int(time.time() * 1000)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"event_id": f"{now:012x}{i:020x}", "zone_code": 999999,
                                "direction": "EXPORT", "mode": "9610", "value_fen": 100,
                                "item_count": 1, "declared_at_ms": now}) + "\n")
    zh.publish_file(bins, d.endpoint, path, ["--publisher", "unknowns"])
    zh.wait_for(lambda: zh.Cli(bins, state).stats()["by_reason"]["unknown_zone"] >= n, 60,
                f"{n} unknown_zone rejections committed")


def queries(bins, d, state, zones):
    """Every read command over the socket prints what it prints on the local store."""
    reject_some(bins, d, state, 5)
    local = [bins.cli, "--state-dir", state]
    remote = [bins.cli, "--state-dir", state, "--connect", d.query]
    day = zw.today_cst()
    cmds = [["stats"], ["zones"], ["provinces", "--day", day], ["provinces", "--all"],
            ["top", "--day", day], ["top", "-n", "5", "--by", "export", "--year", day[:4]],
            ["get", "000000", "--all"], ["get", "330100", "--day", day],
            ["get", "460000", "--province", "--month", day[:7]], ["get", "440000", "--year",
                                                                  day[:4]]]
    for c in cmds + [["stats", "--text"]]:
        text = c[-1] == "--text"
        c = c[:-1] if text else c
        rc1, out1, err1 = zh.run(local + c + ([] if text else ["--json"]))
        rc2, out2, err2 = zh.run(remote + c + ([] if text else ["--json"]))
        zh.check_eq(rc1, 0, f"local {c}: {err1}")
        zh.check_eq(rc2, 0, f"remote {c}: {err2}")
        if c == ["stats"] and not text:
            a = json.loads(out1)
            zh.check(a["publishers"] and a["rejects_kept"] > 0, "a store with publishers "
                     "and kept rejects", (a["publishers"], a["rejects_kept"]))
        zh.check_eq(out2, out1, f"zonetally {' '.join(c)} over the query socket")
    bad_requests(d)
    rc, _, err = zh.run(remote + ["stats", "--json"])
    zh.check_eq(rc, 0, f"the daemon still answers after bad requests: {err}")


def bad_requests(d):
    """Malformed, unknown and oversize requests get an error reply, never silence."""
    import zmq  # Debian's python3-zmq; imported here so the harness stays importable

    ctx = zmq.Context()
    s = ctx.socket(zmq.REQ)
    s.setsockopt(zmq.RCVTIMEO, 5000)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(d.query)
    cases = [(b"\xff\xff\xff\xff", b"malformed"), (b"x" * 100000, b"exceeds"),
             (b"\x10\x63", b"unknown op"), (b"\x10\x01", b"get: bad"),
             (b"\x10\x06\x3a\x02ab", b"prefix"), (b"", b"unknown op"),
             # a level/code pair naming no total: zone 999999, 330100 as a province,
             # the nation under another code
             (b"\x10\x01\x18\x02\x20\xbf\x84\x3d\x28\x00\x30\x00",
              b"get: level 2 code 999999 names no total"),
             (b"\x10\x01\x18\x01\x20\xf4\x92\x14\x28\x00\x30\x00",
              b"get: level 1 code 330100 names no total"),
             (b"\x10\x01\x18\x00\x20\xf4\x92\x14\x28\x00\x30\x00",
              b"get: level 0 code 330100 names no total")]
    for body, want in cases:
        s.send(body)
        reply = s.recv()
        zh.check(want in reply, f"error reply to {body[:8]!r}", reply[:80], want)
    s.close()
    dealer = ctx.socket(zmq.DEALER)  # an envelope of more frames than a request has
    dealer.setsockopt(zmq.RCVTIMEO, 5000)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(d.query)
    dealer.send_multipart([b"", b"\x10\x05", b"extra"])
    reply = dealer.recv_multipart()
    zh.check(b"expected one body frame" in reply[-1], "error reply to a 3-frame request",
             reply, "an error")
    dealer.close()
    ctx.term()


if __name__ == "__main__":
    zh.main(test, "test_feed_query")
    sys.exit(1)
