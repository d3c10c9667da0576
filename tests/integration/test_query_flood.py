#!/usr/bin/python3
"""test_query_flood: a snapshot flood on the query socket does not starve ingestion (issue 14).

N events are committed alone, timed; then N more while two DEALER clients flood the query
socket with snapshot requests, 32 outstanding each, for as long as the events take. Before
issue 14 the main thread answered 64 snapshots before each 256 ingest messages and ingest
ran about 260 times slower; the events must now be committed within a generous deadline
(20 s + 20 times the time they took alone), which the old code misses by far. No timed
assert beyond that deadline: the 80 % figure is the benchmark's. Every request of the flood
gets an answer, a snapshot or the documented busy reply (per-client bound), never silence;
the busy reply echoes its request_id. A third client asking one snapshot at a time is
answered every time (never busy: the per-client bound keeps room for it). Finally, the totals are the store's and a snapshot
afterwards is exact (its feed_seq is the store's).
"""

import os
import threading
import time

import zmq

import ztharness as zh
import ztwatch as zw

N_EVENTS = int(os.environ.get("ZT_FLOOD_EVENTS", "200000"))
OUTSTANDING = 32
BUSY_TEXT = b"busy: too many requests queued; retry later"
SNAPSHOT_OP = 6


def request(rid):
    """A QueryRequest{request_id, op = SNAPSHOT, prefix = ""} body."""
    return zh._field_varint(1, rid) + zh._field_varint(2, SNAPSHOT_OP)


def head_fields(data):
    """request_id (1) and error (2) of a QueryResponse: protobuf-c writes fields in number
    order, so the scan stops at the first field above 2 (a snapshot's blocks are long)."""
    out, i = {}, 0
    while i < len(data):
        key, i = _varint(data, i)
        num, wt = key >> 3, key & 7
        if num > 2:
            break
        if wt == 0:
            out[num], i = _varint(data, i)
        elif wt == 2:
            n, i = _varint(data, i)
            out[num], i = data[i:i + n], i + n
        else:
            raise zh.TestFailure(f"unexpected wire type {wt} in a QueryResponse")
    return out


def _varint(data, i):
    n = shift = 0
    while True:
        b = data[i]
        n |= (b & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if b < 0x80:
            return n, i


class Flood(threading.Thread):
    """One DEALER keeping OUTSTANDING snapshot requests in flight until stopped, then
    waiting for the answer to every request it sent."""

    def __init__(self, ctx, endpoint, base):
        super().__init__(daemon=True)
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.next_id = base
        self.waiting = set()
        self.answers = self.busy = 0
        self.bad = []
        self.stop = threading.Event()
        self.error = None

    def send(self):
        self.next_id += 1
        self.waiting.add(self.next_id)
        self.sock.send(request(self.next_id))

    def take(self):
        f = head_fields(self.sock.recv())
        rid = f.get(1)
        if rid not in self.waiting:
            self.bad.append(f"reply to unknown request_id {rid}")
            return
        self.waiting.discard(rid)
        if 2 not in f:
            self.answers += 1
        elif f[2] == BUSY_TEXT:
            self.busy += 1
        else:
            self.bad.append(f"error reply {f[2]!r}")

    def run(self):
        try:
            for _ in range(OUTSTANDING):
                self.send()
            while not self.stop.is_set():
                if self.sock.poll(1000, zmq.POLLIN):
                    self.take()
                    self.send()
            deadline = time.monotonic() + 60
            while self.waiting and time.monotonic() < deadline:
                if self.sock.poll(1000, zmq.POLLIN):
                    self.take()
        except Exception as e:  # reported by the main thread
            self.error = repr(e)
        finally:
            self.sock.close()


def polite(ctx, endpoint, n):
    """A third client asking one snapshot at a time during the flood: with the flood's
    clients held to max_per_client each, the queue always has room for it, and round-robin
    answers it in turn. Returns how many of its n requests got a real answer (not busy)."""
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    ok = 0
    try:
        for rid in range(1, n + 1):
            sock.send(request(rid))
            zh.check(sock.poll(30000, zmq.POLLIN), "the polite client's snapshot answered")
            f = head_fields(sock.recv())
            zh.check_eq(f.get(1), rid, "request_id of the polite client's answer")
            ok += 2 not in f
    finally:
        sock.close()
    return ok


def publish(bins, d, n, seed, start_seq):
    """Sends n events today, one a message, on the SUB path (zonetally-pub never drops:
    SNDHWM 0), the path the issue measured; returns the seconds it took."""
    t0 = time.monotonic()
    rc, _, err = zh.run([bins.pub, "--endpoint", d.endpoint, "--generate", str(n), "--day", zw.today_cst(), "--seed", str(seed),
                         "--rate", "0", "--publisher", f"flood{seed}",
                         "--start-seq", str(start_seq), "--timeout", "600"], timeout=900)
    zh.check_eq(rc, 0, f"zonetally-pub exit status: {err.strip()[-500:]}")
    return time.monotonic() - t0


def test(bins, state):
    conf = zw.write_config(os.path.join(state, "flood.conf"),
                           "[query]\nmax_pending = 64\nmax_per_client = 8\n")
    d = zh.Daemon(bins, state, ["-c", conf]).start()
    cli = zh.Cli(bins, state)
    ctx = zmq.Context()
    try:
        alone = publish(bins, d, N_EVENTS, seed=21, start_seq=1)
        cli.wait_received(N_EVENTS, timeout=300)
        deadline = 20 + 20 * alone
        floods = [Flood(ctx, d.query, base) for base in (0, 1 << 40)]
        for f in floods:
            f.start()
        zh.wait_for(lambda: all(f.answers + f.busy > 0 for f in floods), 60,
                    "both flood clients answered before the second publication")
        try:
            t0 = time.monotonic()
            pub = threading.Thread(target=publish, args=(bins, d, N_EVENTS, 22, 1))
            pub.start()
            zh.wait_for(lambda: cli.stats().get("received", 0) >= 2 * N_EVENTS, deadline,
                        f"{N_EVENTS} events committed under the flood within {deadline:.0f} s"
                        f" ({alone:.1f} s alone)", interval=0.05)
            took = time.monotonic() - t0
            zh.check_eq(polite(ctx, d.query, 20), 20,
                        "snapshots of a client with one request outstanding, under the flood")
        finally:
            for f in floods:
                f.stop.set()
        pub.join(timeout=600)
        for f in floods:
            f.join(timeout=120)
            zh.check(f.error is None, "flood client ran without error", f.error)
            zh.check_eq(f.bad, [], "flood replies: each a snapshot or the busy reply")
            zh.check_eq(len(f.waiting), 0, "flood requests left without any answer")
            zh.check(f.answers > 0, "flood client got snapshots", f.answers)
            zh.check(f.busy > 0, "flood client got busy replies beyond max_per_client", f.busy)
        print(f"ingest of {N_EVENTS} events: {alone:.2f} s alone, {took:.2f} s under the "
              f"flood; flood: {sum(f.answers for f in floods)} snapshots, "
              f"{sum(f.busy for f in floods)} busy replies")
        stats = cli.wait_received(2 * N_EVENTS, timeout=60)
        check_exact_snapshot(ctx, d, stats)
    finally:
        ctx.destroy(linger=0)
    d.stop()


def check_exact_snapshot(ctx, d, stats):
    """With ingest idle, a snapshot's feed_seq is the store's: the read transaction and the
    totals it reports are one commit's."""
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(d.query)
    sock.send(request(7))
    zh.check(sock.poll(30000, zmq.POLLIN), "a snapshot answered after the flood")
    data = sock.recv()
    f = head_fields(data)
    zh.check_eq(f.get(1), 7, "request_id of the last snapshot")
    zh.check(2 not in f, "the last snapshot is no error", f.get(2))
    full = zh_fields(data)
    zh.check_eq(full.get(3), stats["feed_seq"], "snapshot feed_seq equals the store's")
    sock.close()


def zh_fields(data):
    """The scalar fields of a whole message (last value of each number wins)."""
    out, i = {}, 0
    while i < len(data):
        key, i = _varint(data, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            out[num], i = _varint(data, i)
        elif wt == 2:
            n, i = _varint(data, i)
            i += n
        else:
            raise zh.TestFailure(f"unexpected wire type {wt} in a QueryResponse")
    return out


if __name__ == "__main__":
    zh.main(test, "test_query_flood")
