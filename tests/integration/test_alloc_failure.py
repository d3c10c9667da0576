#!/usr/bin/python3
"""test_alloc_failure: the Nth allocation fails, for every N of a small workload.

The daemon is built with ZT_FAILALLOC (failalloc/failalloc.h; docs/architecture.md,
"Allocation failures"): ZT_FAILALLOC_AT=N makes allocation number N of the store and the
daemon core fail (ZT_FAILALLOC_PERSIST=1: that one and every later one), and
ZT_FAILALLOC_REPORT=FILE writes at exit how many allocations were made. A clean run of the
workload counts them; the walk then runs the workload once per N, densely over start-up and
the first batches and with a stride beyond, in both modes.

The workload crosses decode, batch growth (64-entry buffers, then a reload to 5000), the
writer, acknowledgements (reliable publisher), the PUB path, the feed (a subscriber), the
query socket (`zonetally --connect ... get`) and the SSE history (/api/stream, resumed with
Last-Event-ID). For every N:
- no crash: the daemon never dies by a signal; it may refuse to start (exit 1 with an error
  line), or stop with exit 1 and an error line, but nothing else;
- no leak or invalid access: its log has no sanitizer report (the ASan build runs this too);
- every message is retried or given a counted outcome: a daemon still running acknowledges
  every reliable event (the publisher resends what was not) and receives every PUB message;
- the totals are exact: after the run (and, if the daemon stopped, after a clean restart that
  resends both reliable files) every total equals the expectation, nothing lost or doubled.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

import zmq

import ztgen
import ztharness as zh
import zthttp
import ztreliable

DENSE = 60         # every N up to here (start-up and the first batches)
STRIDE_RUNS = 30   # then this many N spread over the rest, in each mode
PERSIST_RUNS = 5   # "N and every later one" costs a publisher timeout each: sparser
SANITIZER = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehavior")
CONF = "[batch]\nmax_events = 64\nbacklog_events = 64\nmax_ms = 2\n"
GROWN = "[batch]\nmax_events = 5000\nbacklog_events = 5000\nmax_ms = 20\n"


class Workload:
    """Two reliable files (before and after the reload) and one PUB file, with totals."""

    def __init__(self, bins, work):
        zones = zh.load_zones(bins)
        self.zones = zones
        self.parts = []
        for seed, name in ((71, "rel1"), (72, "pub"), (73, "rel2")):
            w = ztgen.Workload(zones, seed=seed, n_valid=120, dup_ratio=0.05,
                               invalid_ratio=0.02)
            w.lines = [ev for ev in w.lines if "publisher_id" not in ev]
            path = os.path.join(work, f"{name}.ndjson")
            w.write(path)
            self.parts.append((w, path))
        self.expected = zh.Expected()
        for w, _ in self.parts:
            for key, view in w.expected.views.items():
                mine = self.expected.views.setdefault(key, zh.empty_view())
                for d in ("import", "export", "total"):
                    add(mine[d], view[d])
                    for m in zh.MODES:
                        add(mine["by_mode"][m][d], view["by_mode"][m][d])
        self.valid = sum(len(w.valid) for w, _ in self.parts)
        # per N, the nation's views (every period): a lost or doubled event shows there;
        # the clean run compares every view
        self.nation = zh.Expected()
        self.nation.views = {k: v for k, v in self.expected.views.items() if k[0] == "nation"}


def add(dst, src):
    for k in dst:
        dst[k] += src[k]


class Run:
    """One daemon on a fresh state dir with the countdown armed at N (0: unarmed)."""

    def __init__(self, bins, work, n, persist):
        self.bins = bins
        self.state = os.path.join(work, f"run-{n}-{int(persist)}")
        os.makedirs(self.state)
        self.conf = os.path.join(self.state, "fa.conf")
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(CONF)
        self.report = os.path.join(self.state, "failalloc.report")
        self.env = dict(os.environ, ZT_FAILALLOC_REPORT=self.report)
        if n:
            self.env["ZT_FAILALLOC_AT"] = str(n)
        if persist:
            self.env["ZT_FAILALLOC_PERSIST"] = "1"
        self.d = zh.Daemon(bins, self.state, ["-c", self.conf], log_level=None)
        self.cli = zh.Cli(bins, self.state)
        self.label = f"N={n}{' persist' if persist else ''}"

    def start(self):
        """True once ready; False if the daemon refused to start (checked to be clean)."""
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(self.env)
        try:
            self.d.start()
            return True
        except zh.TestFailure:
            if self.d.proc.poll() is None:
                raise
            self.check_clean_exit("start-up")
            return False
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def running(self):
        return self.d.proc.poll() is None

    def check_clean_exit(self, when):
        rc = self.d.proc.wait(timeout=30)
        log = self.d.log_tail(400)
        zh.check(rc > 0, f"{self.label}: exit at {when} by status, not signal {-rc}\n{log}")
        zh.check("error:" in log, f"{self.label}: an exit at {when} says why", log)

    def check_log(self):
        with open(self.d.log_path, encoding="utf-8", errors="replace") as f:
            log = f.read()
        for s in SANITIZER:
            zh.check(s not in log, f"{self.label}: sanitizer report in the daemon log\n"
                     + log[-6000:])

    def allocations(self):
        with open(self.report, encoding="utf-8") as f:
            return int(f.read().split()[1])


def reliable(run, path, publisher, timeout_s):
    """zonetally-pub --reliable; given up at once if the daemon stops (nothing to wait for)."""
    p = subprocess.Popen([run.bins.pub, "--reliable", "--endpoint", run.d.ingest_endpoint,
                          "--file", path, "--publisher", publisher, "--timeout",
                          str(timeout_s)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while p.poll() is None and run.running():
        time.sleep(0.02)
    if p.poll() is None:
        p.kill()
    _, err = p.communicate()
    return p.returncode, err.decode(errors="replace")


def readers(run):
    """The feed, the query socket and the SSE history: each may fail, none may crash."""
    ctx = zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(run.d.feed)
    addr = zthttp.metrics_addr(run.state)
    stream = None
    try:
        stream = zthttp.Stream(addr, timeout=0.5)
    except OSError:
        pass
    return sub, addr, stream


def read_back(run, sub, addr, stream):
    """Drains the feed, asks the query socket and resumes the SSE history."""
    while sub.poll(0):
        sub.recv_multipart()
    sub.close()
    zh.run([run.bins.cli, "--connect", run.d.query, "get", "000000", "--all", "--json"],
           timeout=30)
    for s in [stream] + [None]:
        try:
            s = s or zthttp.Stream(addr, last_id="0", timeout=0.5)
            s.next()
        except (OSError, ValueError, zh.TestFailure):
            pass
        finally:
            if s is not None:
                s.close()
    zthttp.get(addr, "/api/totals?code=000000", timeout=5)
    zthttp.get(addr, "/metrics", timeout=5)


def workload(run, wl, persist):
    """The workload against a running daemon; returns whether it ran to the end alive and
    acknowledged everything. With every allocation from N on failing, a daemon that stays
    up may acknowledge nothing more (publishers keep their events): that run counts as
    not through, and the recovery proves that nothing acknowledged was lost or doubled."""
    (_, rel1), (wpub, pub), (_, rel2) = wl.parts
    wait_s = 2 if persist else 20
    sub, addr, stream = readers(run)
    rc1, err1 = reliable(run, rel1, "fa-rel", wait_s)
    with open(run.conf, "w", encoding="utf-8") as f:
        f.write(GROWN)
    if run.running():
        zh.run([run.bins.cli, "--state-dir", run.state, "reload", "--timeout", "20"])
    if run.running():
        zh.run([run.bins.pub, "--endpoint", run.d.endpoint, "--file", pub, "--publisher",
                "fa-pub", "--timeout", str(wait_s)], timeout=60)
    rc2, err2 = reliable(run, rel2, "fa-rel", wait_s) if run.running() else (None, "")
    if run.running():
        try:
            zh.wait_for(lambda: not run.running() or ztreliable.publisher(
                run.cli, "fa-pub")["received"] >= len(wpub.lines), wait_s, "PUB lines received")
        except zh.TestFailure:
            pass
    if run.running():
        read_back(run, sub, addr, stream)
    if not run.running():
        return False
    if persist and (rc1 != 0 or rc2 != 0):
        return False
    # alive to the end: everything was retried until acknowledged, or received
    zh.check_eq(rc1, 0, f"{run.label}: reliable file 1 acknowledged ({err1.strip()})")
    zh.check_eq(rc2, 0, f"{run.label}: reliable file 2 acknowledged ({err2.strip()})")
    zh.check_eq(ztreliable.publisher(run.cli, "fa-pub")["received"], len(wpub.lines),
                f"{run.label}: every PUB message received")
    return True


def stop(run):
    """SIGTERM; a daemon that stopped by itself must have stopped cleanly."""
    if run.running():
        run.d.proc.send_signal(signal.SIGTERM)
        try:
            rc = run.d.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            run.d.proc.kill()
            raise zh.TestFailure(f"{run.label}: no exit within 30 s of SIGTERM")
        log = run.d.log_tail(400)
        zh.check(rc >= 0, f"{run.label}: killed by signal {-rc} at stop\n{log}")
        zh.check(rc == 0 or "error:" in log, f"{run.label}: exit {rc} at stop says why", log)
    else:
        run.check_clean_exit("run time")


def recover(run, wl):
    """A clean restart on the same store, both reliable files and the PUB file resent."""
    run.env.pop("ZT_FAILALLOC_AT", None)
    run.env.pop("ZT_FAILALLOC_PERSIST", None)
    if os.path.exists(os.path.join(run.state, "zonetallyd.endpoints")):
        os.unlink(os.path.join(run.state, "zonetallyd.endpoints"))
    zh.check(run.start(), f"{run.label}: the daemon restarts unarmed on its store")
    (_, rel1), (wpub, pub), (_, rel2) = wl.parts
    for path in (rel1, rel2):
        rc, err = zh.run([run.bins.pub, "--reliable", "--endpoint", run.d.ingest_endpoint,
                          "--file", path, "--publisher", "fa-rel2", "--timeout", "30"],
                         timeout=120)[0::2]
        zh.check_eq(rc, 0, f"{run.label}: resend after the restart ({err.strip()})")
    before = ztreliable.publisher(run.cli, "fa-pub2")["received"]
    zh.publish_file(run.bins, run.d.endpoint, pub, ["--publisher", "fa-pub2"])
    zh.wait_for(lambda: ztreliable.publisher(run.cli, "fa-pub2")["received"]
                >= before + len(wpub.lines), 30, "PUB resend received")
    run.d.stop()


def one(bins, work, wl, n, persist):
    """The workload with allocation n failing; returns 'start-up', 'stopped' or 'ran'."""
    run = Run(bins, work, n, persist)
    try:
        if not run.start():
            run.check_log()
            return "start-up", run
        alive = workload(run, wl, persist)
        stop(run)
        # one failed allocation after start-up is survived: retried, never a stop
        zh.check(alive or persist, f"{run.label}: the daemon stopped on one failed "
                 "allocation after start-up\n" + run.d.log_tail(60))
        run.check_log()
        if not alive:
            recover(run, wl)
            run.check_log()
        stats = run.cli.stats()
        zh.check_eq(stats["accepted"], wl.valid, f"{run.label}: each valid event once")
        zh.check_eq(stats["balanced"], True, f"{run.label}: stats balanced")
        zh.verify_totals(run.cli, wl.nation if n else wl.expected, wl.zones, run.label)
        return ("ran" if alive else "stopped"), run
    finally:
        run.d.ensure_dead()


def walk_points(total, persist):
    """Every N up to DENSE, then STRIDE_RUNS spread up to the clean run's count; with
    persist, PERSIST_RUNS spread over the whole range."""
    if persist:
        return sorted(set(range(1, total + 1, max(1, total // PERSIST_RUNS))))
    points = list(range(1, min(DENSE, total) + 1))
    if total > DENSE:
        step = max(1, (total - DENSE) // STRIDE_RUNS)
        points += list(range(DENSE + step, total + 1, step))
    return points


def test(bins, work):
    wl = Workload(bins, work)
    outcome, clean = one(bins, work, wl, 0, False)
    zh.check_eq(outcome, "ran", "the unarmed run")
    total = clean.allocations()
    zh.check(total > 0, "the failalloc build counts allocations (ZT_FAILALLOC on)", total)
    shutil.rmtree(clean.state)
    t0 = time.monotonic()
    seen = {}
    for persist in (False, True):
        only = os.environ.get("ZT_FAILALLOC_ONLY")  # one N, to debug a finding
        for n in [int(only)] if only else walk_points(total, persist):
            t1 = time.monotonic()
            outcome, run = one(bins, work, wl, n, persist)
            if os.environ.get("ZT_FAILALLOC_VERBOSE"):
                print(f"{run.label}: {outcome} {time.monotonic() - t1:.1f} s", flush=True)
            seen[outcome] = seen.get(outcome, 0) + 1
            if not only:  # a debugged N keeps its state dir (and log) for reading
                shutil.rmtree(run.state)
    print(f"alloc failure walk: {total} allocations in the clean run; outcomes {seen} "
          f"in {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    if os.environ.get("ZT_FAILALLOC_ONLY"):
        zh.Workdir.finish = lambda self, ok: print(f"state kept: {self.path}")
    zh.main(test, "test_alloc_failure")
    sys.exit(1)
