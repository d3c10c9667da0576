#!/usr/bin/python3
"""test_reader_pin: a reader stuck on one snapshot is in /metrics and in the log (issue 14,
finding 4).

A separate process (zt-hold-snapshot, a libzonetally client between zt_reader_begin() and
zt_reader_end()) holds one read snapshot of the store while the daemon commits more events.
/metrics must name its pid, the commits since its snapshot, the pages freed since it (which
LMDB cannot reuse while it stays) and an age that grows; past [store] reader_warn_s (2 s
here) the log must say so. Once the reader ends its snapshot, the gauges fall back to 0.
"""

import os
import subprocess
import sys

import ztharness as zh
import ztops
import zthttp

WARN_S = 2


def oldest(addr):
    """The oldest-reader gauges of one scrape: (pid, age_s, behind, pinned)."""
    text = ztops.scrape(addr)
    return tuple(ztops.metric_value(text, f"zonetally_store_oldest_reader_{n}")
                 for n in ("pid", "age_seconds", "commits_behind", "pinned_pages"))


def publish(bins, d, cli, work, name, n, seed, total):
    path = zthttp.today_events(bins, os.path.join(work, f"{name}.ndjson"), n, seed, name)
    zh.publish_file(bins, d.endpoint, path)
    cli.wait_received(total)


def test(bins, work):
    holder_bin = os.environ.get("ZT_HOLD_SNAPSHOT")
    zh.check(holder_bin is not None and os.access(holder_bin, os.X_OK),
             "ZT_HOLD_SNAPSHOT names the holder binary", holder_bin)
    state, _, cli, d, addr = zthttp.start(bins, work, f"[store]\nreader_warn_s = {WARN_S}\n")
    publish(bins, d, cli, work, "before", 1000, 1, 1000)
    zh.check_eq(oldest(addr)[0], 0, "no reader holds a snapshot yet")

    holder = subprocess.Popen([holder_bin, state], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        line = holder.stdout.readline().split()
        zh.check_eq(line, ["held", str(holder.pid)], "the holder took its snapshot")
        publish(bins, d, cli, work, "during", 5000, 2, 6000)

        def pinned():
            o = oldest(addr)
            return o if o[0] == holder.pid and o[2] > 0 and o[3] > 0 else None
        first = zh.wait_for(pinned, 20, "the holder's pid, commits behind and pinned pages",
                            interval=0.2)
        zh.wait_for(lambda: oldest(addr)[1] > first[1], 10, "a growing age", interval=0.2)
        warn = f"store: process {holder.pid} has held one read snapshot for"

        def warned():
            with open(d.log_path, encoding="utf-8") as f:
                return warn in f.read()
        zh.wait_for(warned, 10 + WARN_S, "the stuck reader's warning in the log",
                    interval=0.2)
        holder.stdin.close()
        zh.check_eq(holder.wait(timeout=30), 0, "the holder ended its snapshot and exited")
    finally:
        if holder.poll() is None:
            holder.kill()
    zh.wait_for(lambda: oldest(addr) == (0, 0, 0, 0), 20, "the gauges back to 0",
                interval=0.2)
    d.stop()
    print(f"reader {holder.pid}: {int(first[2])} commits behind, {int(first[3])} pages "
          f"pinned, warned after {WARN_S} s")


if __name__ == "__main__":
    zh.main(test, "test_reader_pin")
    sys.exit(1)
