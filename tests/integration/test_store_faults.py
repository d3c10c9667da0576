#!/usr/bin/python3
"""test_store_faults: the map grows under load, and a store of another schema is refused.

The daemon starts with a 1 MiB map (map_size_mb = 1) and takes 60,000 messages through the
acknowledged path: every MDB_MAP_FULL must grow the map and retry the batch, losing nothing
(the publisher exits 0, every total is exact, the map is now larger). Then the store's schema
record is rewritten as another version would have left it (with lmdb-utils' mdb_load, not
through zonetally), and the daemon must refuse to start, saying why.
"""

import os
import subprocess
import sys

import ztharness as zh
import ztreliable

N_VALID = 60000


def map_growth(bins, state):
    """Load through a tiny map; exact totals after."""
    zones, w, path = ztreliable.workload(bins, state, seed=41, n_valid=N_VALID)
    conf = os.path.join(state, "tiny.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write("[store]\nmap_size_mb = 1\n")
    d = zh.Daemon(bins, state, ["-c", conf]).start()
    cli = zh.Cli(bins, state)
    zh.check_eq(cli.stats()["store"]["map_bytes"], 1 << 20, "initial map size")
    ztreliable.send(bins, d.ingest_endpoint, path, "tiny-map")
    stats, n = ztreliable.check_exact(cli, w, zones, "after map growth")
    zh.check(stats["store"]["map_bytes"] > 1 << 20, "the map grew", stats["store"])
    d.stop()
    print(f"map grew from 1 MiB to {stats['store']['map_bytes'] >> 20} MiB under "
          f"{len(w.lines)} messages; {n} totals views exact")


def schema_refused(bins, state):
    """Another schema version in meta: the daemon exits non-zero and says so."""
    store = os.path.join(state, "store")
    text = "VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n 736368656d61\n 00000063\nDATA=END\n"
    p = subprocess.run(["mdb_load", "-s", "meta", store], input=text.encode(),
                       capture_output=True, timeout=30)
    zh.check_eq(p.returncode, 0, f"mdb_load ({p.stderr.decode().strip()})")
    rc, out, err = zh.run([bins.daemon, "--foreground", "-c", "/dev/null", "--state-dir", state,
                           "--zones", bins.zones_csv, "--sub-bind", "tcp://127.0.0.1:*",
                           "--router-bind", "tcp://127.0.0.1:*"], timeout=30)
    zh.check(rc != 0, "zonetallyd must refuse a store of another schema version", rc)
    zh.check("another schema version" in err and "refusing to start" in err,
             "the refusal says why", err)
    rc, _, err = zh.run([bins.cli, "--state-dir", state, "stats"])
    zh.check(rc != 0 and "schema" in err, "zonetally refuses it too", (rc, err))


def test(bins, state):
    """Tiny map first, then the schema on the same store."""
    map_growth(bins, state)
    schema_refused(bins, state)


if __name__ == "__main__":
    zh.main(test, "test_store_faults")
    sys.exit(1)
