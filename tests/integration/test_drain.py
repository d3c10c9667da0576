#!/usr/bin/python3
"""test_drain: SIGTERM in the middle of a stream: stop reading, commit what is buffered,
exit 0 quickly.

A paced publisher is still sending when the daemon gets SIGTERM. The daemon must exit 0
within a few seconds, and every message it says it took ("stopped: N messages committed")
must be in the store: `zonetally stats` (read from the store, daemon gone) shows exactly N,
with accepted + duplicates + rejected == received. Nothing half-applied, nothing lost
between the socket and the store. (On the acked path, issue 3, the same drain also sends
the acks; this is the PUB path.)
"""

import re
import sys
import time

import ztharness as zh
import ztops

DRAIN_LIMIT_S = 10.0


def test(bins, work):
    _, w, path, state = ztops.workload_file(bins, work, seed=3, n_valid=60000)
    d = zh.Daemon(bins, state).start()
    cli = zh.Cli(bins, state)
    pub = ztops.paced_publisher(bins, d.endpoint, path, 20000, timeout=5)
    try:
        ztops.wait_committed(cli, 5000)
        zh.check(pub.poll() is None, "publisher still sending at SIGTERM")
        t0 = time.monotonic()
        d.stop()
        took = time.monotonic() - t0
    finally:
        pub.kill()
        pub.wait()
    zh.check(took < DRAIN_LIMIT_S, "drain time", took, f"< {DRAIN_LIMIT_S} s")
    m = re.search(r"stopped: (\d+) messages committed", d.log_tail(50))
    zh.check(m is not None, "the daemon reports what it committed", d.log_tail(10))
    stats = cli.stats()
    zh.check_eq(stats["received"], int(m.group(1)), "store holds what the daemon took")
    zh.check(stats["received"] < len(w.lines), "SIGTERM came mid-stream", stats["received"])
    zh.check_eq(stats["accepted"] + stats["duplicates"] + stats["rejected"], stats["received"],
                "accepted + duplicates + rejected == received")
    print(f"drained in {took:.2f} s with {stats['received']} of {len(w.lines)} committed")


if __name__ == "__main__":
    zh.main(test, "test_drain")
    sys.exit(1)
