"""ztharness: what every zonetally integration test shares.

The tests drive the real binaries (zonetallyd, zonetally, zonetally-pub) the way an operator
would, so this module only starts and stops processes, waits for observable events (the
endpoints file, the stats counters) with deadlines instead of sleeps, encodes TradeEvents
for the raw-socket cases, and computes the totals a correct daemon must report.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

CST_OFFSET_MS = 8 * 3600 * 1000
MODES = {"9610": 1, "9710": 2, "9810": 3, "1210": 4, "1239": 5}
IMPORT_MODES = ["9610", "1210", "1239"]
EXPORT_MODES = ["9610", "9710", "9810", "1210"]
DIRECTIONS = {"IMPORT": 1, "EXPORT": 2}
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
REASONS = ["frame_count", "oversize", "undecodable", "topic_mismatch", "missing_field",
           "bad_event_id", "bad_publisher", "bad_sequence", "unknown_zone", "zone_not_valid",
           "bad_direction", "bad_mode", "mode_direction", "bad_hs_code", "negative_value",
           "value_too_large", "bad_kind", "future_time", "too_old", "reversal_unknown",
           "reversal_twice", "reversal_mismatch", "overflow", "bad_utf8", "too_early",
           "unauthorized_zone", "unauthorized_publisher"]
_LIVE = []


class TestFailure(Exception):
    """Raised by check(); the runner prints it and keeps the state dir for a post-mortem."""


def check(cond, what, got=None, want=None):
    """Fails with both values printed, so a failure explains itself (CONVENTIONS 21)."""
    if not cond:
        if got is None and want is None:
            raise TestFailure(what)
        raise TestFailure(f"{what}: got {got!r}, want {want!r}")


def check_eq(got, want, what):
    """Equality assertion that prints both sides."""
    check(got == want, what, got, want)


class Binaries:
    """Paths of the programs under test and of the source tree, from argv (set by ctest)."""

    def __init__(self, argv):
        if len(argv) != 5:
            sys.exit(f"usage: {argv[0]} ZONETALLYD ZONETALLY ZONETALLY_PUB SOURCE_DIR")
        self.daemon, self.cli, self.pub, self.src = argv[1:5]
        self.zones_csv = os.path.join(self.src, "data", "zones.csv")


class Workdir:
    """A mkdtemp state dir, removed on success and kept (path printed) on failure."""

    def __init__(self, name):
        self.path = tempfile.mkdtemp(prefix=f"zt-{name}-")

    def finish(self, ok):
        """Removes the dir when the test passed; otherwise says where to look."""
        if ok:
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            print(f"state kept for inspection: {self.path}", file=sys.stderr)


def wait_for(pred, timeout, what, interval=0.01):
    """Polls pred() until it returns a true value or the deadline passes; returns the value."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TestFailure(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Daemon:
    """One zonetallyd process on a state dir, its log captured in a file of that dir."""

    def __init__(self, bins, state_dir, extra_args=(), log_level="info"):
        self.bins = bins
        self.log_level = log_level  # None: the configuration file's (reload tests)
        self.state_dir = state_dir
        self.extra_args = list(extra_args)
        self.proc = None
        self.endpoint = None
        self.ingest_endpoint = None  # the acknowledged path's ROUTER ("ingest" line)
        self.log_path = os.path.join(state_dir, "zonetallyd.log")
        self.endpoints_path = os.path.join(state_dir, "zonetallyd.endpoints")
        _LIVE.append(self)

    def start(self):
        """Starts the daemon and waits for its endpoints file (the readiness signal)."""
        args = [self.bins.daemon, "--foreground", "--state-dir", self.state_dir,
                "--zones", self.bins.zones_csv, "--sub-bind", "tcp://127.0.0.1:*",
                "--metrics-listen", "127.0.0.1:0"]
        # Every socket on a free port (parallel tests never clash), unless the test pins one
        # (a restart on the same ports); and never the host's /etc config.
        for flag in ("--router-bind", "--feed-bind", "--query-bind"):
            if flag not in self.extra_args:
                args += [flag, "tcp://127.0.0.1:*"]
        if "-c" not in self.extra_args:
            args += ["-c", self._empty_config()]
        args += self.extra_args
        if self.log_level:
            args += ["--log-level", self.log_level]
        # A daemon killed with SIGKILL leaves its endpoints file: it must not pass for the
        # new daemon's readiness signal.
        if os.path.exists(self.endpoints_path):
            os.unlink(self.endpoints_path)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        self.endpoint = wait_for(self._read_endpoint, READY_TIMEOUT_S, "zonetallyd.endpoints")
        with open(self.endpoints_path, encoding="utf-8") as f:
            eps = dict(line.split(None, 1) for line in f if " " in line)
        self.feed = eps.get("feed", "").strip() or None
        self.query = eps.get("query", "").strip() or None
        return self

    def _empty_config(self):
        """An empty config file, so that an installed /etc/zonetally/zonetallyd.conf never
        changes what a test runs with (the command line sets what the test needs)."""
        path = os.path.join(self.state_dir, "empty.conf")
        if not os.path.exists(path):
            open(path, "w", encoding="utf-8").close()
        return path

    def _read_endpoint(self):
        """Returns the sub endpoint once the file exists; fails early if the daemon died."""
        if self.proc.poll() is not None:
            raise TestFailure(f"zonetallyd exited with {self.proc.returncode} before ready\n"
                              + self.log_tail())
        try:
            with open(self.endpoints_path, encoding="utf-8") as f:
                sub = None
                for line in f:
                    kind, _, ep = line.strip().partition(" ")
                    if kind == "sub" and ep and sub is None:
                        sub = ep
                    elif kind == "ingest" and ep:
                        self.ingest_endpoint = ep
                return sub
        except FileNotFoundError:
            return None
        return None

    def stop(self):
        """SIGTERM: the daemon must commit, remove its endpoints file and exit 0 in time."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise TestFailure("zonetallyd did not exit within 30 s of SIGTERM")
        check_eq(rc, 0, "zonetallyd exit status after SIGTERM\n" + self.log_tail())
        check(not os.path.exists(self.endpoints_path), "endpoints file left after exit")

    def kill9(self):
        """SIGKILL: simulates a crash; nothing is cleaned up, by design."""
        self.proc.kill()
        self.proc.wait(timeout=STOP_TIMEOUT_S)

    def ensure_dead(self):
        """Used on failure paths so a broken test never leaves a daemon behind."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, lines=30):
        """The last lines of the daemon log, for failure messages."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no daemon log)"


def run(args, timeout=60, stdin_data=None):
    """Runs a program, returns (exit status, stdout, stderr) as text."""
    p = subprocess.run(args, input=stdin_data.encode() if stdin_data else None,
                       capture_output=True, timeout=timeout)
    # Invalid UTF-8 in the output is a finding to report, not a reason to crash the test.
    return (p.returncode, p.stdout.decode(errors="replace"),
            p.stderr.decode(errors="replace"))


class Cli:
    """The zonetally CLI on one state dir, with --json output parsed."""

    def __init__(self, bins, state_dir):
        self.bins = bins
        self.state_dir = state_dir

    def json(self, *args):
        """Runs `zonetally --state-dir D ARGS --json` and returns the parsed object."""
        cmd = [self.bins.cli, "--state-dir", self.state_dir] + list(args) + ["--json"]
        rc, out, err = run(cmd)
        check_eq(rc, 0, f"exit status of {' '.join(cmd)}: {err.strip()}")
        try:
            return json.loads(out)
        except json.JSONDecodeError as e:
            raise TestFailure(f"{' '.join(cmd)} printed invalid JSON ({e}): {out[:300]!r}")

    def stats(self):
        """`zonetally stats --json`."""
        return self.json("stats")

    def wait_received(self, count, timeout=240):
        """Waits until the daemon has committed `count` messages; prints stats on timeout."""
        last = {}

        def reached():
            last["s"] = self.stats()
            return last["s"].get("received", -1) >= count

        try:
            wait_for(reached, timeout, f"stats received == {count}", interval=0.05)
        except TestFailure:
            raise TestFailure(f"received never reached {count}; last stats:\n"
                              + json.dumps(last.get("s"), indent=1))
        check_eq(last["s"]["received"], count, "stats received (more than sent?)")
        return last["s"]


def publish_file(bins, endpoint, path, extra=(), timeout=300):
    """Sends an NDJSON file through zonetally-pub; returns its stderr for the report."""
    cmd = [bins.pub, "--endpoint", endpoint, "--file", path, "--timeout", "60"] + list(extra)
    rc, _, err = run(cmd, timeout=timeout)
    check_eq(rc, 0, f"zonetally-pub exit status ({err.strip()})")
    return err


def load_zones(bins):
    """Reads data/zones.csv into {code: (province, approved_year, revoked_year or None)}."""
    zones = {}
    with open(bins.zones_csv, encoding="utf-8") as f:
        next(f)
        for line in f:
            cols = line.rstrip("\n").split(",")
            code = int(cols[0])
            zones[code] = (code // 10000 * 10000, int(cols[5]),
                           int(cols[6]) if cols[6] else None)
    return zones


def zones_valid_in(zones, year):
    """The codes an event of that CST year may carry."""
    return sorted(c for c, (_, a, r) in zones.items() if a <= year and (r is None or year < r))


# ---- a minimal protobuf encoder, for the raw-socket cases only (no protobuf module here) ----

def _varint(n):
    """Protobuf base-128 varint; negative int64 values take ten bytes, as on the wire."""
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field_varint(num, value):
    """A varint field (wire type 0)."""
    return _varint(num << 3) + _varint(value)


def _field_bytes(num, data):
    """A length-delimited field (wire type 2)."""
    return _varint((num << 3) | 2) + _varint(len(data)) + data


def encode_event(ev):
    """Encodes a dict with wire-level values (ints, bytes) as a TradeEvent, fields in order."""
    order = [("event_id", 1, "b"), ("publisher_id", 2, "s"), ("sequence", 3, "v"),
             ("zone_code", 4, "v"), ("direction", 5, "v"), ("mode", 6, "v"),
             ("value_fen", 7, "v"), ("item_count", 8, "v"), ("declared_at_ms", 9, "v"),
             ("hs_code", 10, "s"), ("kind", 11, "v"), ("ref_event_id", 12, "b"),
             ("padding", 15, "b")]
    out = b""
    for name, num, kind in order:
        if name not in ev:
            continue
        v = ev[name]
        if kind == "v":
            out += _field_varint(num, v)
        else:
            out += _field_bytes(num, v.encode() if isinstance(v, str) else v)
    return out


# ---- expected totals ----

def cst_buckets(ms):
    """The (granularity, bucket) pairs of an event time, as `get --json` names them."""
    t = time.gmtime((ms + CST_OFFSET_MS) // 1000)
    return [("day", f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"),
            ("month", f"{t.tm_year:04d}-{t.tm_mon:02d}"), ("year", f"{t.tm_year:04d}"),
            ("all", None)]


def zero_totals():
    """One {events, value_fen, items, reversals} record at zero."""
    return {"events": 0, "value_fen": 0, "items": 0, "reversals": 0}


def empty_view():
    """What `get --json` reports for a code and period nobody touched (minus code/period)."""
    view = {d: zero_totals() for d in ("import", "export", "total")}
    view["by_mode"] = {m: {d: zero_totals() for d in ("import", "export", "total")}
                       for m in MODES}
    return view


class Expected:
    """Totals computed independently from the events sent, keyed by (level, code, period)."""

    def __init__(self):
        self.views = {}

    def apply(self, zone, direction, mode, ms, value, items, sign):
        """Adds (sign=+1) a declaration or subtracts (sign=-1) a reversal everywhere."""
        d = direction.lower()
        codes = [("zone", zone), ("province", zone // 10000 * 10000), ("nation", 0)]
        for level, code in codes:
            for period in cst_buckets(ms):
                view = self.views.get((level, code, period))
                if view is None:
                    view = self.views[(level, code, period)] = empty_view()
                for t in (view[d], view["total"], view["by_mode"][mode][d],
                          view["by_mode"][mode]["total"]):
                    t["events"] += sign
                    t["value_fen"] += sign * value
                    t["items"] += sign * items
                    if sign < 0:
                        t["reversals"] += 1

    def get(self, level, code, period):
        """The expected view, zeros when nothing was counted there."""
        return self.views.get((level, code, period), empty_view())

    def keys(self):
        """Every (level, code, period) that received at least one event."""
        return sorted(self.views, key=lambda k: (k[0], k[1], k[2][0], k[2][1] or ""))


def period_args(period):
    """CLI flags of a (granularity, bucket) pair."""
    gran, bucket = period
    return ["--all"] if gran == "all" else [f"--{gran}", bucket]


def verify_totals(cli, expected, zones, label):
    """Compares `zonetally get --json` with the expected view for every touched key."""
    n = 0
    for level, code, period in expected.keys():
        args = ["get", f"{code:06d}"] + period_args(period)
        if level == "province" and code in zones:
            args.append("--province")
        got = cli.json(*args)
        want = expected.get(level, code, period)
        check_eq(got.get("level"), level, f"{label}: level of {args}")
        check_eq(got.get("period", {}).get("granularity"), period[0], f"{label}: {args} gran")
        check_eq(got.get("period", {}).get("bucket"), period[1], f"{label}: {args} bucket")
        for d in ("import", "export", "total", "by_mode"):
            check_eq(got.get(d), want[d], f"{label}: {d} of {' '.join(args)}")
        n += 1
    return n


def main(test, name):
    """Runs test(bins, workdir) and maps the outcome to an exit status ctest understands."""
    bins = Binaries(sys.argv)
    work = Workdir(name)
    ok = False
    try:
        test(bins, work.path)
        ok = True
    except TestFailure as e:
        print(f"FAIL: {e}", file=sys.stderr)
    except Exception:  # an unexpected error is a failure too, with its traceback
        traceback.print_exc()
    finally:
        for d in _LIVE:
            d.ensure_dead()
        work.finish(ok)
    print(f"{name}: {'PASS' if ok else 'FAIL'}")
    sys.exit(0 if ok else 1)
