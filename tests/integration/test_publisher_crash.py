#!/usr/bin/python3
"""test_publisher_crash: a reliable publisher killed mid-run resumes from its spool.

zonetally-pub --reliable --spool DIR is killed with SIGKILL while sending; started again with
the same arguments it must resend what the daemon had not acknowledged, continue the input
after the highest spooled sequence, and exit 0. Every total must then be exact, each valid
event counted once, and the acknowledged mark must be the last sequence.
"""

import os
import subprocess
import sys

import ztharness as zh
import ztreliable

N_VALID = 40000
PUBLISHER = "customs-spool"


def test(bins, state):
    """Kill the publisher, run it again, compare every total."""
    zones, w, path = ztreliable.workload(bins, state, seed=17, n_valid=N_VALID)
    d = zh.Daemon(bins, state).start()
    cli = zh.Cli(bins, state)
    spool = os.path.join(state, "spool")
    cmd = [bins.pub, "--reliable", "--endpoint", d.ingest_endpoint, "--file", path,
           "--publisher", PUBLISHER, "--spool", spool, "--timeout", "60"]
    pub = subprocess.Popen(cmd + ["--rate", "20000"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        zh.wait_for(lambda: cli.stats().get("accepted", 0) >= N_VALID // 3, 60,
                    "a third of the input acknowledged")
        zh.check(pub.poll() is None, "publisher still running when killed")
        pub.kill()
    finally:
        pub.kill()
        pub.wait()
    before = cli.stats()["accepted"]
    rc, _, err = zh.run(cmd, timeout=300)
    zh.check_eq(rc, 0, f"second run exit status ({err.strip()})")
    zh.check("resuming after sequence" in err, "the second run resumed from the spool", err)
    _, n = ztreliable.check_exact(cli, w, zones, "after the publisher crash")
    p = ztreliable.publisher(cli, PUBLISHER)
    zh.check_eq(p["through_sequence"], len(w.lines), "acknowledged mark: every line")
    print(f"publisher killed after {before} accepted; resumed: {err.strip().splitlines()[0]}; "
          f"{n} totals views exact")
    d.stop()


if __name__ == "__main__":
    zh.main(test, "test_publisher_crash")
    sys.exit(1)
