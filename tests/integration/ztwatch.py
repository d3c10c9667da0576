"""ztwatch: `zonetally watch --json` as a test drives it, and the comparison of its view with
the store. Shared by the feed, shard and watch tests.
"""

import json
import os
import signal
import subprocess
import threading
import time

import ztharness as zh


def today_cst():
    """Today's date in China Standard Time, as YYYY-MM-DD."""
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600))


def write_config(path, extra=""):
    """A daemon config accepting the whole current CST day (the generator spreads events over
    it, so some lie hours ahead of the wall clock)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("[validation]\nfuture_tolerance_s = 90000\n" + extra)
    return path


class Watcher:
    """One `zonetally watch --json --heartbeats` process; its lines are read by a thread
    (started at once, or later with start_reading() to make a slow watcher)."""

    def __init__(self, bins, args, codes=(), read_now=True, rcvhwm=None):
        cmd = list(args) + ["watch", "--json", "--heartbeats"] + list(codes)
        if rcvhwm is not None:
            cmd += ["--rcvhwm", str(rcvhwm)]
        self.codes = list(codes)
        self.lines = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.thread = None
        if read_now:
            self.start_reading()

    def start_reading(self):
        """Starts draining stdout; until then the watcher blocks on a full pipe (slow)."""
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for raw in self.proc.stdout:
            obj = json.loads(raw)
            with self.lock:
                self.lines.append(obj)

    def heartbeats_at(self, feed_seq, shard=0):
        """True once a heartbeat of that shard found the view complete at feed_seq or later."""
        with self.lock:
            return any(o["kind"] == "heartbeat" and o["shard"] == shard
                       and o["feed_seq"] >= feed_seq for o in self.lines)

    def wait_synced(self, feed_seq, shard=0, timeout=120):
        """Waits until the view is known complete through commit feed_seq."""
        try:
            zh.wait_for(lambda: self.heartbeats_at(feed_seq, shard), timeout,
                        f"watcher {self.codes} in sync at feed_seq {feed_seq} (shard {shard})",
                        interval=0.05)
        except zh.TestFailure as e:
            with self.lock:
                tail = [o for o in self.lines if o["kind"] == "heartbeat"][-3:]
                n = len(self.lines)
            raise zh.TestFailure(f"{e}; {n} lines, last heartbeats {tail}")
        # lines after that heartbeat are newer still; the view is the last line of each block

    def states(self):
        """The view's states in the order the status lines said them."""
        with self.lock:
            return [o["state"] for o in self.lines if o["kind"] == "status"]

    def stop(self):
        """SIGTERM; the watcher must exit 0."""
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        if self.thread is not None:
            self.thread.join(timeout=30)
        err = self.proc.stderr.read().decode(errors="replace")
        zh.check_eq(rc, 0, f"watch exit status ({err.strip()})")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def view(self):
        """{(level, code, gran, bucket): line} from the last line of each block."""
        v = {}
        with self.lock:
            for o in self.lines:
                if o["kind"] not in ("snapshot", "update"):
                    continue
                p = o["period"]
                v[(o["level"], o["code"], p["granularity"], p["bucket"])] = o
        return v

    def snapshots(self):
        """How many snapshots it took (distinct runs of snapshot lines)."""
        n, prev = 0, None
        with self.lock:
            for o in self.lines:
                if o["kind"] == "snapshot" and prev != "snapshot":
                    n += 1
                if o["kind"] in ("snapshot", "update"):
                    prev = o["kind"]
        return n


def get_args(level, code, gran, bucket, zones):
    """`zonetally get` arguments of one block."""
    args = ["get", code]
    args += ["--all"] if gran == "all" else [f"--{gran}", bucket]
    if level == "province" and int(code) in zones:
        args.append("--province")
    return args


def compare_view(cli_args, view, zones, label, want_keys=None):
    """Every block of the view equals `zonetally get --json` on it (all 18 totals)."""
    if want_keys is not None:
        missing = sorted(set(want_keys) - set(view))
        zh.check(not missing, f"{label}: blocks missing from the view", missing[:5], [])
    for (level, code, gran, bucket), o in sorted(view.items()):
        cmd = cli_args + get_args(level, code, gran, bucket, zones) + ["--json"]
        rc, out, err = zh.run(cmd)
        zh.check_eq(rc, 0, f"{label}: {' '.join(cmd)}: {err.strip()}")
        got = json.loads(out)
        for d in ("import", "export", "total", "by_mode"):
            zh.check_eq(o[d], got[d], f"{label}: {d} of {level} {code} {gran} {bucket}")
    return len(view)


def expected_keys(zones, prefixes, day):
    """The blocks a watcher of these prefixes holds: every code matching them, with its
    current day, month, year and all-time periods."""
    y, m = day[:4], day[:7]
    periods = [("day", day), ("month", m), ("year", y), ("all", None)]
    codes = [("nation", "000000")]
    provs = sorted({c // 10000 * 10000 for c in zones})
    codes += [("province", f"{p:06d}") for p in provs]
    codes += [("zone", f"{c:06d}") for c in sorted(zones)]
    keys = []
    for level, code in codes:
        if prefixes and not any(code.startswith(p) for p in prefixes):
            continue
        keys += [(level, code, g, b) for g, b in periods]
    return keys
