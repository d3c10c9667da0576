#!/usr/bin/python3
"""test_restart: a crash in the middle of ingest loses nothing and counts nothing twice.

The daemon is killed with SIGKILL while zonetally-pub is still sending (after some commits
landed, at an arbitrary point inside the next batch), restarted on the same state dir, and
the whole input is sent again. Because the dedup records are written in the same LMDB
transaction as the totals, every event must then be counted exactly once: the totals equal
the ones computed from the input, and `accepted` equals the number of distinct valid events.
"""

import os
import subprocess
import sys

import ztgen
import ztharness as zh

N_VALID = int(os.environ.get("ZT_RESTART_EVENTS", "50000"))
RATE = "25000"


def crash_while_sending(bins, state, path, lines):
    """Starts a paced publisher, SIGKILLs the daemon once part of the input is committed."""
    d = zh.Daemon(bins, state).start()
    cli = zh.Cli(bins, state)
    pub = subprocess.Popen([bins.pub, "--endpoint", d.endpoint, "--file", path,
                            "--rate", RATE, "--timeout", "5"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def some_committed():
            return cli.stats().get("received", 0) >= lines // 4

        zh.wait_for(some_committed, 120, "a quarter of the input committed", interval=0.02)
        zh.check(pub.poll() is None, "publisher still sending when the daemon is killed")
        d.kill9()
    finally:
        pub.kill()
        pub.wait()
    return cli.stats()["received"]


def test(bins, state):
    """Crash, restart, resend everything, then every total must be exact."""
    zones = zh.load_zones(bins)
    w = ztgen.Workload(zones, seed=7, n_valid=N_VALID)
    path = os.path.join(state, "events.ndjson")
    w.write(path)
    before = crash_while_sending(bins, state, path, len(w.lines))
    print(f"killed with {before} of {len(w.lines)} messages committed")
    zh.check(before < len(w.lines), "the crash happened before the end of the input", before)

    d = zh.Daemon(bins, state).start()
    cli = zh.Cli(bins, state)
    after_restart = cli.stats()["received"]
    zh.check_eq(after_restart, before, "received after restart (committed before the crash)")
    zh.publish_file(bins, d.endpoint, path)
    stats = cli.wait_received(before + len(w.lines))
    zh.check_eq(stats["accepted"], len(w.valid), "accepted: each valid event once")
    zh.check_eq(stats["accepted"] + stats["duplicates"] + stats["rejected"], stats["received"],
                "accepted + duplicates + rejected == received")
    n = zh.verify_totals(cli, w.expected, zones, "after crash")
    print(f"{n} totals views match after the crash and the resend")
    d.stop()


if __name__ == "__main__":
    zh.main(test, "test_restart")
    sys.exit(1)
