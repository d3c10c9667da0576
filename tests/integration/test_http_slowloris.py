#!/usr/bin/python3
"""test_http_slowloris: trickling clients cannot take /metrics away (issue 14, finding 3).

80 connections from four loopback addresses (127.0.0.2 to .5, 20 each: Linux routes all of
127.0.0.0/8 to lo, so a client may bind any of them) send a request one byte a second, which
resets an idle timeout for ever. Before the fix they held all 64 connection slots and every
scrape failed while they stayed. Now: at most http_max_per_address (16) per address get a
slot, the rest are closed at once; a scrape from 127.0.0.1 succeeds, repeatedly, while they
trickle; every trickling connection is closed once its headers are late
(http_header_timeout_s, 5 s by default), which /metrics counts. Then the stream share is
filled (8 streams): /api/stream answers 503 and /metrics still 200.
"""

import select
import socket
import sys
import threading
import time

import ztharness as zh
import ztops
import zthttp

ADDRESSES = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
PER_ADDRESS = 20
PER_ADDRESS_LIMIT = 16  # the default http_max_per_address
TRICKLE = b"GET /metrics HTTP/1.1\r\nHost: zonetally\r\nX-Slow: " + b"a" * 4096


class Slowloris:
    """Connections that send TRICKLE one byte a second, on a thread, noting when each one
    is closed by the server."""

    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.socks = []
        for src in ADDRESSES:
            for _ in range(PER_ADDRESS):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind((src, 0))
                s.connect((host, int(port)))
                self.socks.append(s)
        self.pos = {s: 0 for s in self.socks}
        self.closed = {}  # sock -> monotonic time it was seen closed
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _close(self, s):
        with self.lock:
            self.closed.setdefault(s, time.monotonic())

    def _open(self):
        with self.lock:
            return [s for s in self.socks if s not in self.closed]

    def _run(self):
        next_byte = time.monotonic()
        while not self.stop:
            live = self._open()
            if time.monotonic() >= next_byte:
                next_byte += 1.0
                for s in live:
                    try:
                        s.send(TRICKLE[self.pos[s]:self.pos[s] + 1])
                        self.pos[s] += 1
                    except OSError:
                        self._close(s)
            if not live:
                time.sleep(0.1)
                continue
            ready, _, _ = select.select(live, [], [], 0.1)
            for s in ready:
                try:
                    if s.recv(4096) == b"":
                        self._close(s)
                except OSError:
                    self._close(s)

    def n_open(self):
        return len(self._open())

    def close(self):
        self.stop = True
        self.thread.join()
        for s in self.socks:
            s.close()


def scrape_while_trickling(addr, slow, limit_s):
    """Scrapes from another address, each within 5 s, for as long as the trickling ones
    stay (limit_s at most); returns how many (each one must succeed)."""
    n = 0
    deadline = time.monotonic() + limit_s
    while slow.n_open() > 0 and time.monotonic() < deadline:
        text = ztops.scrape(addr, timeout=5)
        zh.check("zonetally_commits_total" in text, "a whole scrape", len(text))
        n += 1
        time.sleep(0.2)
    return n


def test(bins, work):
    _, _, _, d, addr = zthttp.start(bins, work)
    slow = Slowloris(addr)
    try:
        zh.check(slow.n_open() > 0, "trickling connections open")
        scrapes = scrape_while_trickling(addr, slow, 30)
        zh.check_eq(slow.n_open(), 0, "trickling connections left open after 30 s (the "
                    "header deadline is 5 s)")
        zh.check(scrapes >= 3, "scrapes answered while the trickling connections stayed",
                 scrapes)
    finally:
        slow.close()
    text = ztops.scrape(addr)
    cut = ztops.metric_value(text, "zonetally_http_header_timeouts_total")
    zh.check_eq(cut, len(ADDRESSES) * PER_ADDRESS_LIMIT,
                "connections closed for late headers (the per-address limit let in 16 each)")

    streams = [zthttp.Stream(addr) for _ in range(8)]
    try:
        zh.check_eq([s.status for s in streams], [200] * 8, "8 streams open")
        status, _, _ = zthttp.get(addr, "/api/stream")
        zh.check_eq(status, 503, "a 9th stream is refused")
        text = ztops.scrape(addr, timeout=5)
        zh.check_eq(ztops.metric_value(text, "zonetally_http_refused_total",
                                       {"share": "stream"}), 1, "the refused stream counted")
    finally:
        for s in streams:
            s.close()
    d.stop()
    print(f"{len(slow.socks)} trickling connections: {scrapes} scrapes answered, {int(cut)} "
          f"closed at the header deadline")


if __name__ == "__main__":
    zh.main(test, "test_http_slowloris")
    sys.exit(1)
