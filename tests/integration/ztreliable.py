"""ztreliable: what the acknowledged-path tests share.

A workload fit for `zonetally-pub --reliable` (lines naming another publisher_id are left
out: the daemon acknowledges per publisher, so they could never be acknowledged to the
sender), one run of the reliable publisher, and one publisher's record in `stats`.
"""

import os

import ztgen
import ztharness as zh


def workload(bins, state, seed, n_valid, dup_ratio=0.02, invalid_ratio=0.002):
    """Returns (zones, workload, path of its NDJSON file) without foreign-publisher lines."""
    zones = zh.load_zones(bins)
    w = ztgen.Workload(zones, seed=seed, n_valid=n_valid, dup_ratio=dup_ratio,
                       invalid_ratio=invalid_ratio)
    dropped = [ev for ev in w.lines if "publisher_id" in ev]
    w.lines = [ev for ev in w.lines if "publisher_id" not in ev]
    if dropped:
        w.reasons["bad_publisher"] -= len(dropped)
        if w.reasons["bad_publisher"] == 0:
            del w.reasons["bad_publisher"]
    path = os.path.join(state, "events.ndjson")
    w.write(path)
    return zones, w, path


def send(bins, endpoint, path, publisher, timeout_s=60, want_rc=0):
    """Runs zonetally-pub --reliable on a file; checks its exit status, returns stderr."""
    rc, _, err = zh.run([bins.pub, "--reliable", "--endpoint", endpoint, "--file", path,
                         "--publisher", publisher, "--timeout", str(timeout_s)], timeout=300)
    zh.check_eq(rc, want_rc, f"zonetally-pub --reliable --publisher {publisher} "
                f"({err.strip()})")
    return err


def publisher(cli, name):
    """The stats record of one publisher (zeros before its first message)."""
    for p in cli.stats()["publishers"]:
        if p["id"] == name:
            return p
    return {"received": 0, "accepted": 0, "duplicates": 0, "rejected": 0,
            "through_sequence": 0}


def check_exact(cli, w, zones, label):
    """Each valid event accepted once, the counters balanced, every total exact.
    Returns (stats, number of totals views compared)."""
    stats = cli.stats()
    zh.check_eq(stats["accepted"], len(w.valid), f"{label}: each valid event accepted once")
    zh.check_eq(stats["balanced"], True, f"{label}: received == accepted + duplicates + "
                "rejected")
    return stats, zh.verify_totals(cli, w.expected, zones, label)
