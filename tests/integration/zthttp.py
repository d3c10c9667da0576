"""zthttp: what the HTTP dashboard tests (issue 8) share: today's events as NDJSON, a
daemon configured to serve the dashboard from the source tree, plain GETs, and a raw
Server-Sent Events reader (http.client, so a test controls exactly when it disconnects).
"""

import http.client
import json
import os
import random
import time

import ztharness as zh

IMPORT_MODES = ["9610", "1210", "1239"]
EXPORT_MODES = ["9610", "9710", "9810", "1210"]


def today_events(bins, path, n, seed, publisher):
    """Writes n valid declarations of the last minutes (CST today, whatever the hour) for
    zones valid now; returns the path. Times are a few seconds in the past, never future."""
    rnd = random.Random(seed)
    year = time.gmtime(time.time() + 8 * 3600).tm_year
    zones = zh.zones_valid_in(zh.load_zones(bins), year)
    now_ms = int(time.time() * 1000)
    midnight = (now_ms + zh.CST_OFFSET_MS) // 86400000 * 86400000 - zh.CST_OFFSET_MS
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            direction = rnd.choice(["IMPORT", "EXPORT"])
            mode = rnd.choice(IMPORT_MODES if direction == "IMPORT" else EXPORT_MODES)
            ev = {"list_no": f"{publisher}-{seed}-{i}", "publisher_id": publisher,
                  "sequence": i + 1, "zone_code": rnd.choice(zones),
                  "direction": direction, "mode": mode,
                  "value_fen": rnd.randint(1000, 5_000_000), "item_count": rnd.randint(1, 9),
                  "declared_at_ms": max(midnight, now_ms - 1000 - rnd.randint(0, 60000))}
            f.write(json.dumps(ev) + "\n")
    return path


def config(work, extra=""):
    """A configuration that serves the dashboard from the source tree."""
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.path.join(work, "http.conf")
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"[metrics]\ndashboard_dir = {os.path.join(src, 'dashboard')}\n{extra}")
    return path


def start(bins, work, extra_conf=""):
    """A daemon on a fresh state dir serving the dashboard: (state, conf, cli, daemon, addr)."""
    state = os.path.join(work, "state")
    os.mkdir(state)
    conf = config(work, extra_conf)
    d = zh.Daemon(bins, state, ["-c", conf]).start()
    return state, conf, zh.Cli(bins, state), d, metrics_addr(state)


def metrics_addr(state):
    """The bound ADDR:PORT of the HTTP listener, from the endpoints file."""
    with open(os.path.join(state, "zonetallyd.endpoints"), encoding="utf-8") as f:
        for line in f:
            kind, _, ep = line.strip().partition(" ")
            if kind == "metrics":
                return ep
    raise zh.TestFailure("no metrics line in the endpoints file")


def get(addr, path, headers=None, method="GET", timeout=10):
    """One request; returns (status, headers dict (lower-case names), body bytes)."""
    host, port = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    except (ConnectionError, http.client.HTTPException):
        return 0, {}, b""  # refused or closed: callers that wait for service retry
    finally:
        c.close()


def get_json(addr, path, headers=None):
    """GET that must answer 200 with JSON; returns the object."""
    status, hdrs, body = get(addr, path, headers)
    zh.check_eq(status, 200, f"status of GET {path} ({body[:200]!r})")
    zh.check(hdrs.get("content-type", "").startswith("application/json"),
             f"content type of {path}", hdrs.get("content-type"))
    return json.loads(body)


class Stream:
    """A raw /api/stream connection: yields parsed events (dicts with id, event, data)."""

    def __init__(self, addr, query="", last_id=None, timeout=15):
        host, port = addr.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        headers = {"Accept": "text/event-stream"}
        if last_id is not None:
            headers["Last-Event-ID"] = last_id
        self.conn.request("GET", "/api/stream" + query, headers=headers)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status

    def next(self):
        """The next dispatched event, comments and retry lines skipped; None at the end."""
        ev = {}
        while True:
            line = self.resp.readline()
            if not line:
                return None
            line = line.decode("utf-8").rstrip("\n")
            if line == "":
                if "id" in ev or "data" in ev:
                    if "data" in ev:
                        ev["data"] = json.loads(ev["data"])
                    return ev
                continue
            key, _, value = line.partition(": ")
            if key in ("id", "event", "data"):
                ev[key] = value

    def until(self, pred, what, limit=100000):
        """Reads events until pred(ev) is true; returns (that event, the ones before)."""
        seen = []
        for _ in range(limit):
            ev = self.next()
            if ev is None:
                raise zh.TestFailure(f"stream ended while waiting for {what}")
            if pred(ev):
                return ev, seen
            seen.append(ev)
        raise zh.TestFailure(f"no {what} in {limit} events")

    def close(self):
        self.conn.close()
