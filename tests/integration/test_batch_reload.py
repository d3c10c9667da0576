#!/usr/bin/python3
"""test_batch_reload: a reload that raises the batch size, then a burst on the ROUTER path.

issue 13, hole 2: batch_grow() reallocated two of a batch's three per-entry arrays, so after
a SIGHUP raising [batch] max_events / backlog_events the next large batch of the
acknowledged path wrote past the third (ASan: heap-buffer-overflow in batch_next(); a
plain build corrupts its heap and dies). The daemon starts with batches of 8 entries, is
reloaded to 50,000 / 200,000 and is then sent 40,000 events in EventBatches of 2,000 as fast
as a DEALER can; it must stay up, acknowledge every sequence and count every event exactly
once in the totals. Then it is lowered again and sent more: a shrink keeps the buffers.
"""

import os
import sys

import ztharness as zh
import ztwire

PUB = "reload-burst"
SMALL = "[batch]\nmax_events = 8\nbacklog_events = 8\nmax_ms = 1\n"
BIG = "[batch]\nmax_events = 50000\nbacklog_events = 200000\nmax_ms = 50\n"
PER_BATCH = 2000


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def reload(bins, state, what):
    rc, out, err = zh.run([bins.cli, "--state-dir", state, "reload", "--timeout", "30"])
    zh.check_eq(rc, 0, f"reload {what}: {out}{err}")


def burst(d, sock, marks, first, n, ms, expected):
    """Sends sequences first..first+n-1 in EventBatches at once, then waits for the acks."""
    for lo in range(first, first + n, PER_BATCH):
        seqs = range(lo, min(lo + PER_BATCH, first + n))
        sock.send(b"\x02" + ztwire.batch([ztwire.event(PUB, s, ms) for s in seqs]))
        for s in seqs:
            expected.apply(ztwire.ZONE, "EXPORT", "9610", ms, s, 1, +1)
    marks.wait(sock, {PUB: first + n - 1}, 120, f"burst {first}..{first + n - 1}", d)


def test(bins, work):
    conf = os.path.join(work, "zonetallyd.conf")
    write(conf, SMALL)
    d = zh.Daemon(bins, work, ["-c", conf], log_level=None).start()
    cli = zh.Cli(bins, work)
    sock = ztwire.dealer(d.ingest_endpoint)
    marks, expected, ms = ztwire.Marks(), zh.Expected(), ztwire.day_ms()
    burst(d, sock, marks, 1, 100, ms, expected)
    write(conf, BIG)
    reload(bins, work, "raising max_events and backlog_events")
    burst(d, sock, marks, 101, 40000, ms, expected)
    zh.check(d.proc.poll() is None, "the daemon survived the burst after the reload")
    write(conf, SMALL)
    reload(bins, work, "lowering them again")
    burst(d, sock, marks, 40101, 4000, ms, expected)
    stats = cli.stats()
    zh.check_eq((stats["received"], stats["accepted"]), (44100, 44100),
                "every event received and accepted once")
    zh.check_eq(marks.rejected, {}, "no rejection")
    zones = zh.load_zones(bins)
    n = zh.verify_totals(cli, expected, zones, "after the reloads")
    print(f"44,100 events over 2 reloads, every ack through {marks.through[PUB]}, "
          f"{n} totals views exact")
    d.stop()


if __name__ == "__main__":
    zh.main(test, "test_batch_reload")
    sys.exit(1)
