#!/usr/bin/python3
"""test_stats_u64: counters near 2^64 are printed exactly, in JSON and in text.

A store's counters and publisher records are unsigned 64-bit; a CLI that casts them to int64
prints a count above 2^63 as a negative number (issue 13, item 7: gap_events). The daemon
commits a few events so that the records exist, then the records are rewritten with values
near 2^64 with lmdb-utils' mdb_dump/mdb_load (not through zonetally), and `zonetally stats`
and `stats --json` must print every one of them exactly.
"""

import os
import subprocess
import sys

import ztharness as zh
import ztreliable

TOP = (1 << 64) - 1
COUNTERS_KEY = b"counters".hex()
# Offsets in the counters record (store/store.c zt_counters_encode): a 8-byte header, then
# received, accepted, duplicates, rejected, commits, feed_seq, watermark, dedup_records.
COMMITS_AT, DEDUP_AT = 8 + 8 * 4, 8 + 8 * 7
# Offsets in a publisher record (store/read.c zt_publisher_encode).
PUB_GAPS_AT, PUB_GAP_EVENTS_AT, PUB_THROUGH_AT = 40, 48, 80


def dump(store, db):
    """{key hex: value hex} of one named DB, read with mdb_dump."""
    p = subprocess.run(["mdb_dump", "-s", db, store], capture_output=True, timeout=30)
    zh.check_eq(p.returncode, 0, f"mdb_dump -s {db} ({p.stderr.decode().strip()})")
    lines = p.stdout.decode().splitlines()
    data = [ln.strip() for ln in lines[lines.index("HEADER=END") + 1:] if ln != "DATA=END"]
    return dict(zip(data[0::2], data[1::2]))


def load(store, db, records):
    """Overwrites records {key hex: value hex} of one named DB with mdb_load."""
    body = "".join(f" {k}\n {v}\n" for k, v in records.items())
    text = f"VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n{body}DATA=END\n"
    p = subprocess.run(["mdb_load", "-s", db, store], input=text.encode(), capture_output=True,
                       timeout=30)
    zh.check_eq(p.returncode, 0, f"mdb_load -s {db} ({p.stderr.decode().strip()})")


def put_u64(hexval, offset, value):
    """hexval with the big-endian u64 at offset replaced by value."""
    raw = bytearray.fromhex(hexval)
    raw[offset:offset + 8] = value.to_bytes(8, "big")
    return raw.hex()


def test(bins, state):
    """Commit, rewrite near 2^64, read back exactly."""
    _, w, path = ztreliable.workload(bins, state, seed=13, n_valid=2000, dup_ratio=0,
                                     invalid_ratio=0)
    d = zh.Daemon(bins, state).start()
    ztreliable.send(bins, d.ingest_endpoint, path, "huge")
    d.stop()
    store = os.path.join(state, "store")
    meta = dump(store, "meta")
    ctr = put_u64(meta[COUNTERS_KEY], COMMITS_AT, TOP)
    load(store, "meta", {COUNTERS_KEY: put_u64(ctr, DEDUP_AT, TOP - 1)})
    pubs = dump(store, "publishers")
    key = b"huge".hex()
    rec = put_u64(pubs[key], PUB_GAPS_AT, 1 << 63)
    rec = put_u64(rec, PUB_GAP_EVENTS_AT, TOP - 2)
    load(store, "publishers", {key: put_u64(rec, PUB_THROUGH_AT, TOP - 3)})

    cli = zh.Cli(bins, state)
    s = cli.stats()
    zh.check_eq(s["commits"], TOP, "stats --json commits")
    zh.check_eq(s["dedup_records"], TOP - 1, "stats --json dedup_records")
    p = [x for x in s["publishers"] if x["id"] == "huge"]
    zh.check_eq(len(p), 1, "the publisher is listed")
    zh.check_eq(p[0]["gaps"], 1 << 63, "stats --json gaps")
    zh.check_eq(p[0]["gap_events"], TOP - 2, "stats --json gap_events")
    zh.check_eq(p[0]["through_sequence"], TOP - 3, "stats --json through_sequence")
    zh.check_eq(p[0]["accepted"], len(w.valid), "the other fields untouched")
    rc, out, err = zh.run([bins.cli, "--state-dir", state, "stats"])
    zh.check_eq(rc, 0, f"zonetally stats ({err.strip()})")
    zh.check("18,446,744,073,709,551,615" in out, "text commits exact", out)
    zh.check(f"({TOP - 2} events)" in out, "text gap_events exact", out)
    print(f"stats printed commits {TOP}, gap_events {TOP - 2} exactly, in JSON and text")


if __name__ == "__main__":
    zh.main(test, "test_stats_u64")
    sys.exit(1)
