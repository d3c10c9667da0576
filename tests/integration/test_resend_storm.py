#!/usr/bin/python3
"""test_resend_storm: the same 50,000 events sent three times on both paths count once.

One NDJSON file is sent three times over PUB/SUB (publisher 'storm-pub') and three times over
the acknowledged path (publisher 'storm-rel'): six copies of every event. Each valid event must
be accepted once, every other copy counted as a duplicate, and the totals must equal those of
a single pass. (The reliable path may add resends of its own when an ack is slow, and may skip
events an ack already covers; so its exact counts are checked per publisher.)
"""

import sys

import ztharness as zh
import ztreliable

N_VALID = 50000


def test(bins, state):
    """Three passes on each path, then one pass's totals."""
    zones, w, path = ztreliable.workload(bins, state, seed=23, n_valid=N_VALID, dup_ratio=0,
                                         invalid_ratio=0)
    d = zh.Daemon(bins, state).start()
    cli = zh.Cli(bins, state)
    for i in range(3):
        zh.publish_file(bins, d.endpoint, path, ["--publisher", "storm-pub"])
        zh.wait_for(lambda: ztreliable.publisher(cli, "storm-pub")["received"] >= (i + 1) * len(w.lines),
                    120, f"PUB pass {i + 1} committed")
        # exit 0 means every event was acknowledged, that is committed
        ztreliable.send(bins, d.ingest_endpoint, path, "storm-rel")
    stats, n = ztreliable.check_exact(cli, w, zones, "after the resend storm")
    n_rej = sum(w.reasons.values())
    pub, rel = ztreliable.publisher(cli, "storm-pub"), ztreliable.publisher(cli, "storm-rel")
    zh.check_eq(pub["received"], 3 * len(w.lines), "PUB path: three passes received")
    zh.check_eq(pub["accepted"] + rel["accepted"], len(w.valid), "accepted once in all")
    zh.check_eq(pub["rejected"], 3 * n_rej, "PUB path: invalid lines rejected on each pass")
    zh.check_eq(rel["through_sequence"], len(w.lines), "reliable path: every line acked")
    # the first reliable pass sends everything; later passes may send less, since acks
    # covering sequences the daemon already has release events before they are sent
    zh.check(rel["duplicates"] >= len(w.valid) - rel["accepted"], "reliable duplicates",
             rel["duplicates"], len(w.valid) - rel["accepted"])
    print(f"resend storm: {len(w.lines)} lines x 6 passes, {stats['accepted']} accepted, "
          f"{stats['duplicates']} duplicates; {n} totals views exact")
    d.stop()


if __name__ == "__main__":
    zh.main(test, "test_resend_storm")
    sys.exit(1)
