#!/usr/bin/python3
"""test_shards: two daemons split the zones by topic prefix (ev.33 Zhejiang, ev.44
Guangdong); `zonetally --connect A --connect B` merges their answers (roll-ups add up, top
re-ranks) and `watch` follows both feeds into one view equal to the sum of the stores.
"""

import json
import os
import subprocess
import sys

import ztharness as zh
import ztwatch as zw

N_EVENTS = 60000


def shard(bins, work, name, prefix):
    state = os.path.join(work, name)
    os.mkdir(state)
    conf = zw.write_config(os.path.join(state, "shard.conf"),
                           f"[ingest]\nsubscribe = {prefix}\n")
    return zh.Daemon(bins, state, ["-c", conf]).start(), state


def get_json(args):
    rc, out, err = zh.run(args)
    zh.check_eq(rc, 0, f"{' '.join(args)}: {err.strip()}")
    return json.loads(out)


def add_views(a, b):
    """The sum of two `get --json` objects' totals (import/export/total/by_mode)."""
    def add(x, y):
        if isinstance(x, dict):
            return {k: add(x[k], y[k]) for k in x}
        return x + y
    return {k: add(a[k], b[k]) for k in ("import", "export", "total", "by_mode")}


def test(bins, work):
    zones = zh.load_zones(bins)
    d1, s1 = shard(bins, work, "zj", "ev.33")
    d2, s2 = shard(bins, work, "gd", "ev.44")
    both = [bins.cli, "--connect", d1.query, "--connect", d2.query]
    w = zw.Watcher(bins, both)
    day = zw.today_cst()
    pub = subprocess.run([bins.pub, "--endpoint", d1.endpoint, "--endpoint", d2.endpoint,
                          "--generate", str(N_EVENTS), "--day", day, "--seed", "5",
                          "--rate", "40000", "--wait-subscribers", "2", "--timeout", "60"],
                         capture_output=True, timeout=300)
    zh.check_eq(pub.returncode, 0, f"zonetally-pub: {pub.stderr.decode(errors='replace')}")
    c1, c2 = zh.Cli(bins, s1), zh.Cli(bins, s2)
    seqs = []
    for c in (c1, c2):
        want = None

        def settled(c=c):
            nonlocal want
            r = c.stats()["received"]
            done, want = r == want and r > 0, r
            return done
        zh.wait_for(settled, 120, "shard ingest settled", interval=0.5)
        seqs.append(c.stats()["feed_seq"])
    for i, s in enumerate(seqs):
        w.wait_synced(s, shard=i)
    for args in (["get", "000000", "--day", day], ["get", "330000", "--all"],
                 ["get", "440000", "--month", day[:7]]):
        a = get_json([bins.cli, "--state-dir", s1] + args + ["--json"])
        b = get_json([bins.cli, "--state-dir", s2] + args + ["--json"])
        m = get_json(both + args + ["--json"])
        for k, v in add_views(a, b).items():
            zh.check_eq(m[k], v, f"merged {k} of {' '.join(args)}")
    top = get_json(both + ["top", "-n", "1000", "--day", day, "--json"])
    codes = [z["code"][:2] for z in top["zones"]]
    zh.check("33" in codes and "44" in codes, "merged top holds both shards' zones", codes)
    vals = [z["total"]["value_fen"] for z in top["zones"]]
    zh.check_eq(vals, sorted(vals, reverse=True), "merged top is ranked by value")
    view = w.view()
    for (level, code, gran, bucket), o in sorted(view.items()):
        if code not in ("000000", "330100", "440100", "330000", "440000"):
            continue
        args = zw.get_args(level, code, gran, bucket, zones) + ["--json"]
        a = get_json([bins.cli, "--state-dir", s1] + args)
        b = get_json([bins.cli, "--state-dir", s2] + args)
        for k, v in add_views(a, b).items():
            zh.check_eq(o[k], v, f"watch view {k} of {level} {code} {gran} {bucket}")
    w.stop()
    d1.stop()
    d2.stop()
    print(f"two shards merged: {len(view)} blocks in the watch view")


if __name__ == "__main__":
    zh.main(test, "test_shards")
    sys.exit(1)
