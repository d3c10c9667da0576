#!/usr/bin/python3
"""test_many_publishers: memory and acknowledgements with very many publisher ids.

issue 13, hole 5: the daemon allocated a router_window-bit bitmap (12.5 KB) for every
publisher_id it saw and found them by linear scan: 100,000 ids took its RSS to 1.2 GiB and
one EventBatch of 100,000 distinct ids stalled it for 19 s. Now a publisher in order costs
one small record, the records are found in a tree, and at most ZT_ACK_PUBLISHERS (16,384)
are kept between batches, the rest re-read from the store when they come back. (The 50,000
acks of the first batch overflow the ROUTER's send queue: the lost ones are recovered by
resends, as a reliable publisher does; later batches are sized to fit.)

One EventBatch carries 50,000 events of 50,000 distinct publishers; then 100,000 more ids
arrive over time in EventBatches of 500; then 5,000 of the first ids (long since dropped
from memory) send their sequence 2. Every ack must name a publisher that sent and never
cover a sequence not sent; every publisher must end acknowledged through its last
sequence; the counts must be exact; and the daemon's VmRSS must stay under RSS_BOUND_KIB
(the old code needed over 1.2 GiB here).
"""

import os
import sys

import ztharness as zh
import ztwire

ONE_BATCH = 50000
OVER_TIME = 100000
PER_BATCH = 500  # acks of one batch to one peer fit in the ROUTER's send queue
RETURNING = 5000
RSS_BOUND_KIB = 256 * 1024


def rss_kib(d):
    """VmRSS of the daemon, from /proc."""
    with open(f"/proc/{d.proc.pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise zh.TestFailure("no VmRSS in /proc/PID/status")


class Sender:
    """Sends events of many publishers and resends what a lost ack left unconfirmed."""

    def __init__(self, sock, ms):
        self.sock, self.ms = sock, ms
        self.sent = {}  # publisher -> highest sequence sent
        self.marks = ztwire.Marks(self.sent)
        self.peak = 0

    def send(self, items):
        """items: [(publisher, sequence)], in one EventBatch."""
        evs = []
        for pub, seq in items:
            self.sent[pub] = max(self.sent.get(pub, 0), seq)
            evs.append(ztwire.event(pub, seq, self.ms))
        self.sock.send(b"\x02" + ztwire.batch(evs))

    def resend(self, pubs):
        """Everything from each publisher's mark + 1, as a reliable publisher does."""
        items = [(p, s) for p in pubs
                 for s in range(self.marks.through.get(p, 0) + 1, self.sent[p] + 1)]
        for i in range(0, len(items), PER_BATCH):
            self.send(items[i:i + PER_BATCH])

    def settle(self, d, pubs, what):
        """Waits until every publisher in pubs is acknowledged through its last sequence."""
        self.marks.wait(self.sock, {p: self.sent[p] for p in pubs}, 300, what, d,
                        self.resend)
        self.peak = max(self.peak, rss_kib(d))
        zh.check(self.peak < RSS_BOUND_KIB, f"{what}: VmRSS {self.peak} KiB under "
                 f"{RSS_BOUND_KIB} KiB")


def test(bins, work):
    # The bound is about the daemon's own structures: in the sanitizer build, ASan's
    # quarantine of freed blocks (256 MiB by default) would count as RSS too.
    asan = os.environ.get("ASAN_OPTIONS", "")
    os.environ["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "quarantine_size_mb=16"
    d = zh.Daemon(bins, work).start()
    base = rss_kib(d)
    snd = Sender(ztwire.dealer(d.ingest_endpoint), ztwire.day_ms())
    first = [f"one-{i}" for i in range(ONE_BATCH)]
    snd.send([(p, 1) for p in first])
    snd.settle(d, first, f"one EventBatch of {ONE_BATCH} publishers")
    for lo in range(0, OVER_TIME, PER_BATCH):
        pubs = [f"t-{i}" for i in range(lo, lo + PER_BATCH)]
        snd.send([(p, 1) for p in pubs])
        snd.settle(d, pubs, f"publishers t-{lo}..")
    for lo in range(0, RETURNING, PER_BATCH):
        back = first[lo:lo + PER_BATCH]
        snd.send([(p, 2) for p in back])
        snd.settle(d, back, "returning publishers, their marks read from the store")
    zh.check_eq(snd.marks.rejected, {}, "no rejection")
    stats = zh.Cli(bins, work).stats()
    total = ONE_BATCH + OVER_TIME + RETURNING
    zh.check_eq(stats["accepted"], total, "every event accepted once")
    zh.check_eq(stats["received"], stats["accepted"] + stats["duplicates"],
                "the rest are duplicates of resends")
    print(f"{ONE_BATCH + OVER_TIME} publisher ids, {total} events, {snd.marks.acks} acks, "
          f"{stats['duplicates']} resent duplicates; VmRSS {base} KiB at start, "
          f"peak {snd.peak} KiB")
    d.stop()


if __name__ == "__main__":
    zh.main(test, "test_many_publishers")
    sys.exit(1)
