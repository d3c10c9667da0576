#!/usr/bin/python3
"""test_backup: `zonetally backup` under load, and `zonetally verify`.

While a publisher streams events, `zonetally backup` copies the live store (compacting).
The copy must pass `verify` (schema, every roll-up equal to its leaves) and must equal the
source *at its snapshot*: one publisher over one connection is applied in order, so a
backup holding K received messages must hold exactly what the first K messages make. The
test replays those K messages into a fresh daemon and compares the two stores' totals and
dedup databases byte for byte (mdb_dump). The source passes `verify` at the end too.
"""

import os
import re
import subprocess
import sys

import ztharness as zh
import ztops


def dump(store, db):
    """mdb_dump of one named DB (keys and values in hex): equal dumps, equal contents."""
    p = subprocess.run(["mdb_dump", "-s", db, store], capture_output=True, timeout=120)
    zh.check_eq(p.returncode, 0, f"mdb_dump -s {db} {store}: {p.stderr.decode()}")
    return p.stdout


def verify(bins, path):
    rc, out, err = zh.run([bins.cli, "verify", path, "--json"])
    zh.check_eq(rc, 0, f"zonetally verify {path}: {out}{err}")
    return out


def backup_under_load(bins, work, path):
    """Starts the source daemon and publisher, backs up mid-stream; returns K."""
    src = os.path.join(work, "src")
    os.makedirs(src)
    d = zh.Daemon(bins, src).start()
    cli = zh.Cli(bins, src)
    pub = ztops.paced_publisher(bins, d.endpoint, path, 20000)
    try:
        ztops.wait_committed(cli, 10000)
        os.makedirs(os.path.join(work, "bk"))
        rc, out, err = zh.run([bins.cli, "--state-dir", src, "backup",
                               os.path.join(work, "bk", "store"), "--json"])
        zh.check_eq(rc, 0, f"zonetally backup: {out}{err}")
        zh.check(pub.poll() is None, "the publisher was still sending during the backup")
        zh.check_eq(pub.wait(timeout=120), 0, "zonetally-pub exit status")
    finally:
        if pub.poll() is None:
            pub.kill()
    k = zh.Cli(bins, os.path.join(work, "bk")).stats()["received"]
    print(f"backup under load: {out.strip()}, {k} messages received at the snapshot")
    d.stop()
    verify(bins, src)
    return k


def replay_prefix(bins, work, path, k):
    """A fresh daemon fed the first k messages of the file; returns its state dir."""
    with open(path, encoding="utf-8") as f:
        lines = [ln for ln in f if ln.strip() and not ln.startswith("#")]
    prefix = os.path.join(work, "prefix.ndjson")
    with open(prefix, "w", encoding="utf-8") as f:
        f.writelines(lines[:k])
    ref = os.path.join(work, "ref")
    os.makedirs(ref)
    d = zh.Daemon(bins, ref).start()
    zh.publish_file(bins, d.endpoint, prefix)
    zh.Cli(bins, ref).wait_received(k)
    d.stop()
    return ref


def test(bins, work):
    _, w, path, _ = ztops.workload_file(bins, work, seed=9, n_valid=50000)
    k = backup_under_load(bins, work, path)
    zh.check(0 < k < len(w.lines), "the snapshot is mid-stream", k)
    bk = os.path.join(work, "bk", "store")
    print(verify(bins, bk).strip())
    ref = os.path.join(replay_prefix(bins, work, path, k), "store")
    for db in ("totals", "dedup", "zones"):
        zh.check(dump(bk, db) == dump(ref, db), f"backup's {db} equals the source's at "
                 f"its snapshot (first {k} messages)")
    rc, _, err = zh.run([bins.cli, "--state-dir", os.path.join(work, "src"), "backup", bk])
    zh.check(rc != 0 and "already holds a store" in err, "backup refuses to overwrite", err)
    again = os.path.join(work, "backup-text")
    rc, out, err = zh.run([bins.cli, "--state-dir", os.path.join(work, "src"), "backup", again])
    zh.check(rc == 0 and re.search(r": \d{1,3}(,\d{3})+ bytes \(\d+ MiB\)", out) is not None,
             "backup's size reads with thousands separators", out + err)


if __name__ == "__main__":
    zh.main(test, "test_backup")
    sys.exit(1)
