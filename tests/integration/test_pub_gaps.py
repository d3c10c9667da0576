#!/usr/bin/python3
"""test_pub_gaps: on the plain PUB path every loss is detected, counted and logged.

A publisher sends a paced stream over PUB/SUB; the daemon is killed with SIGKILL in the middle
and restarted on the same ipc:// endpoint, so what it had received but not committed, and what
was in flight, is lost. The lost range must be reported as a gap of exactly the right size:
the number of sequences never committed, which the test knows independently (every event is
sent once, so lost = sent - accepted - rejected). The log must name the ranges. A second run of
the same publisher from sequence 1 must be reported as a restart (regression).
"""

import os
import re
import subprocess
import sys

import ztgen
import ztharness as zh

N_VALID = 30000
RATE = "15000"
PUBLISHER = "customs-pub"


def test(bins, state):
    """Kill mid-stream, restart, compare the reported gap with the real loss."""
    zones = zh.load_zones(bins)
    w = ztgen.Workload(zones, seed=3, n_valid=N_VALID, dup_ratio=0, invalid_ratio=0)
    path = os.path.join(state, "events.ndjson")
    w.write(path)
    ep = f"ipc://{state}/sub.sock"
    d = zh.Daemon(bins, state, ["--sub-bind", ep]).start()
    cli = zh.Cli(bins, state)
    pub = subprocess.Popen([bins.pub, "--endpoint", ep, "--file", path, "--rate", RATE,
                            "--publisher", PUBLISHER, "--timeout", "30"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        zh.wait_for(lambda: cli.stats().get("accepted", 0) >= N_VALID // 3, 60,
                    "a third of the stream committed")
        d.kill9()
        d.start()
        _, err = pub.communicate(timeout=120)
    finally:
        if pub.poll() is None:
            pub.kill()
    zh.check_eq(pub.returncode, 0, f"zonetally-pub exit status ({err.decode().strip()})")

    def all_in():
        s = cli.stats()
        p = [x for x in s["publishers"] if x["id"] == PUBLISHER]
        return s if p and p[0]["last_sequence"] == len(w.lines) else None

    stats = zh.wait_for(all_in, 60, "the last sequence committed")
    p = [x for x in stats["publishers"] if x["id"] == PUBLISHER][0]
    lost = len(w.lines) - stats["accepted"] - stats["rejected"]
    zh.check(lost > 0, "the crash lost part of the PUB stream", lost)
    zh.check_eq(p["gap_events"], lost, "gap size reported == messages lost")
    zh.check(p["gaps"] >= 1, "at least one gap", p["gaps"])
    zh.check_eq(p["regressions"], 0, "no restart reported")
    logged = 0
    with open(d.log_path, encoding="utf-8") as f:
        for m in re.finditer(r"publisher '" + PUBLISHER + r"': sequence gap (\d+)\.\.(\d+) "
                             r"\((\d+) messages lost on the PUB path\)", f.read()):
            zh.check_eq(int(m.group(2)) - int(m.group(1)) + 1, int(m.group(3)), "range size")
            logged += int(m.group(3))
    zh.check_eq(logged, lost, "messages lost named in the log")
    print(f"PUB path: {lost} of {len(w.lines)} messages lost in the crash, reported as "
          f"{p['gaps']} gap(s) of {p['gap_events']} sequences")

    # the same publisher starts over from 1 with new events: a restart, not a gap
    rc, _, err = zh.run([bins.pub, "--endpoint", ep, "--generate", "50", "--seed", "99",
                         "--publisher", PUBLISHER, "--timeout", "30"])
    zh.check_eq(rc, 0, f"second run ({err.strip()})")
    zh.wait_for(lambda: [x for x in cli.stats()["publishers"]
                         if x["id"] == PUBLISHER][0]["regressions"] == 1, 30,
                "the restart from 1 reported")
    d.stop()
    with open(d.log_path, encoding="utf-8") as f:
        zh.check(f"publisher '{PUBLISHER}' restarted from sequence 1" in f.read(),
                 "the restart is logged")


if __name__ == "__main__":
    zh.main(test, "test_pub_gaps")
    sys.exit(1)
