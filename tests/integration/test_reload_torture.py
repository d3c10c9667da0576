#!/usr/bin/python3
"""test_reload_torture: 100 reloads under load from both paths, every total still exact.

Two workloads (ztgen, two seeds, distinct ids) go to one daemon at once: one through
`zonetally-pub --reliable` (ROUTER, acknowledged), one through plain `zonetally-pub` (PUB),
each in rounds, each round resending a share of the lines of earlier rounds. Meanwhile the
test rewrites the configuration and runs `zonetally reload` 100 times, paced by the daemon's
progress so that every reload lands under load: every reloadable key ([daemon] log_level,
[batch] max_events/max_ms/backlog_events, [validation] dedup_window_days/future_tolerance_s/
max_value_fen, [store] rejects_max, [security] authorized_dir/readers_dir) gets a random
valid value, raised and lowered, and every fourth file is broken in one of several ways.

Checks: a broken file is refused (exit 1, "keeping the running configuration") and the
running configuration stays: the next good reload reports exactly the number of keys that
differ from the last good file, not from the broken one. The daemon starts with 64-entry
batch buffers and later configurations raise max_events/backlog_events, so batches larger
than the start-up buffers are committed (the batch-size histogram shows them): a buffer that
a reload grew only in part is caught here (ASan build: heap-buffer-overflow). At the end
every valid event is accepted once and every total equals the expectation computed here.

The random ranges keep the outcome exact: max_value_fen never goes below the largest value
generated (1e10) nor above the value_too_large lines (1e11 + 1); the dedup window never
below 5 days (the workload spans 4) nor above 55 (the too_old lines are 59+ days older than
any watermark); future_tolerance_s at most a day (the future_time lines are 2 days ahead).
"""

import math
import os
import random
import sys
import threading

import ztgen
import ztharness as zh
import ztops
import ztreliable

N_VALID = 12000     # per path
ROUNDS = 8          # per path
RESEND_SHARE = 0.15  # of the earlier rounds' lines, resent in each round
RELOADS = 100
START_CAP = 64      # the daemon's first batch buffers: max_events = backlog_events = 64
KEYS = [("daemon", "log_level"), ("batch", "max_events"), ("batch", "max_ms"),
        ("batch", "backlog_events"), ("validation", "dedup_window_days"),
        ("validation", "future_tolerance_s"), ("validation", "max_value_fen"),
        ("store", "rejects_max"), ("security", "authorized_dir"), ("security", "readers_dir")]
BROKEN = [
    "[batch]\nmax_events = 0\n",                      # out of range
    "[batch]\nbacklog_events = lots\n",                # not a number
    "[validation]\ndedup_window_days = 0\n",           # out of range
    "[validation]\nmax_value_fen = -1\n",              # out of range
    "[daemon]\nlog_level = loud\n",                    # not a level
    "[store]\nrejects_maximum = 5\n",                  # unknown key
    "[nowhere]\nx = 1\n",                              # unknown section
    "[batch\nmax_events = 10\n",                       # not ini
]


def log_uniform(rng, lo, hi):
    """An integer in [lo, hi], uniform in log scale, so both small and huge values come."""
    return int(round(math.exp(rng.uniform(math.log(lo), math.log(hi)))))


def random_config(rng, dirs):
    """A valid value for every reloadable key, within the ranges that keep totals exact."""
    return {
        ("daemon", "log_level"): rng.choice(["error", "warning", "info", "debug"]),
        ("batch", "max_events"): log_uniform(rng, 16, 200000),
        ("batch", "max_ms"): rng.randint(0, 40),
        ("batch", "backlog_events"): log_uniform(rng, 1, 400000),
        ("validation", "dedup_window_days"): rng.randint(5, 55),
        ("validation", "future_tolerance_s"): rng.randint(0, 86400),
        ("validation", "max_value_fen"): rng.randint(10**10, 10**11),
        ("store", "rejects_max"): rng.randint(0, 20000),
        ("security", "authorized_dir"): rng.choice(dirs["auth"]),
        ("security", "readers_dir"): rng.choice(dirs["readers"]),
    }


def render(conf):
    """The configuration file text of a {(section, key): value} dict."""
    out, section = [], None
    for (sec, key), value in sorted(conf.items()):
        if sec != section:
            out.append(f"[{sec}]")
            section = sec
        out.append(f"{key} = {value}")
    return "\n".join(out) + "\n"


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def workload(zones, seed):
    """A ztgen workload without lines naming a publisher_id (each path's stats are exact)."""
    w = ztgen.Workload(zones, seed=seed, n_valid=N_VALID, dup_ratio=0.05, invalid_ratio=0.01)
    w.lines = [ev for ev in w.lines if "publisher_id" not in ev]
    return w


def merged_expectation(a, b):
    """The expected totals of both workloads together (their ids are distinct)."""
    exp = zh.Expected()
    for w in (a, b):
        for key, view in w.expected.views.items():
            mine = exp.views.setdefault(key, zh.empty_view())
            for d in ("import", "export", "total"):
                add_totals(mine[d], view[d])
            for m in zh.MODES:
                for d in ("import", "export", "total"):
                    add_totals(mine["by_mode"][m][d], view["by_mode"][m][d])
    return exp


def add_totals(dst, src):
    for k in dst:
        dst[k] += src[k]


def round_files(w, state, tag, rng):
    """ROUNDS NDJSON files: each a slice of the workload plus resends of earlier slices."""
    n = len(w.lines)
    paths, sent = [], []
    for r in range(ROUNDS):
        part = w.lines[r * n // ROUNDS:(r + 1) * n // ROUNDS]
        old = rng.sample(sent, int(len(sent) * RESEND_SHARE)) if sent else []
        lines = part + old
        sent.extend(part)
        path = os.path.join(state, f"{tag}-{r}.ndjson")
        tmp = ztgen.Workload.__new__(ztgen.Workload)
        tmp.lines = lines
        ztgen.Workload.write(tmp, path)
        paths.append((path, len(lines)))
    return paths


class Publishers:
    """Both paths' rounds in two threads; errors are kept for the main thread to raise."""

    def __init__(self, bins, d, cli, rel_files, pub_files):
        self.bins, self.d, self.cli = bins, d, cli
        self.errors = []
        self.rel_lines = sum(n for _, n in rel_files)
        self.pub_lines = sum(n for _, n in pub_files)
        self.threads = [threading.Thread(target=self._guard, args=(self._reliable, rel_files)),
                        threading.Thread(target=self._guard, args=(self._pub, pub_files))]

    def start(self):
        for t in self.threads:
            t.start()

    def done(self):
        return not any(t.is_alive() for t in self.threads)

    def join(self):
        for t in self.threads:
            t.join(timeout=300)
        if self.errors:
            raise self.errors[0]

    def _guard(self, fn, files):
        try:
            fn(files)
        except Exception as e:  # reported by join()
            self.errors.append(e)

    def _reliable(self, files):
        """Each round continues the sequences; exit 0 means every line is acknowledged."""
        seq = 1
        for path, n in files:
            rc, _, err = zh.run([self.bins.pub, "--reliable", "--endpoint",
                                 self.d.ingest_endpoint, "--file", path, "--publisher",
                                 "torture-rel", "--start-seq", str(seq), "--timeout", "60"],
                                timeout=300)
            zh.check_eq(rc, 0, f"zonetally-pub --reliable round from {seq}: {err.strip()}")
            seq += n

    def _pub(self, files):
        """Each round waits until the daemon has received it: nothing beyond the HWM."""
        total = 0
        for path, n in files:
            zh.publish_file(self.bins, self.d.endpoint, path, ["--publisher", "torture-pub"])
            total += n
            zh.wait_for(lambda: alive(self.d) and ztreliable.publisher(
                self.cli, "torture-pub")["received"] >= total, 120, f"PUB rounds up to {total} lines received",
                        interval=0.05)


def alive(d):
    """Fails at once when the daemon died (a crash must not pass for a slow daemon)."""
    if d.proc.poll() is not None:
        raise zh.TestFailure(f"zonetallyd died with status {d.proc.returncode}\n"
                             + d.log_tail())
    return True


def reload(bins, state):
    rc, out, err = zh.run([bins.cli, "--state-dir", state, "reload", "--timeout", "60"])
    return rc, out + err


def torture(bins, d, conf_path, cli, pubs, rng, dirs, running):
    """RELOADS reloads paced by the daemon's progress; returns (good, broken) counts."""
    good = broken = 0
    total = pubs.rel_lines + pubs.pub_lines
    for k in range(RELOADS):
        # land each reload under load: wait for the next slice of the traffic (or its end)
        target = (k + 1) * total // (RELOADS + 10)
        zh.wait_for(lambda: alive(d) and (pubs.done() or cli.stats()["received"] >= target), 120,
                    f"traffic before reload {k}", interval=0.02)
        if k % 4 == 3:
            text = rng.choice(BROKEN)
            write(conf_path, render(running) + text)
            rc, out = reload(bins, d.state_dir)
            zh.check_eq(rc, 1, f"reload {k} of a broken file ({text!r}) fails: {out}")
            zh.check("keeping the running configuration" in out,
                     f"reload {k}: the broken file is refused as a whole", out)
            broken += 1
            continue
        nxt = random_config(rng, dirs)
        if k % 4 == 0:  # now and then, raise the batch size well past the start-up buffers
            nxt[("batch", "max_events")] = rng.randint(5000, 200000)
            nxt[("batch", "max_ms")] = rng.randint(10, 40)
        changed = sum(1 for key in KEYS if nxt[key] != running[key])
        write(conf_path, render(nxt))
        rc, out = reload(bins, d.state_dir)
        zh.check_eq(rc, 0, f"reload {k}: {out}")
        # counted against the last good file: a refused file left nothing behind
        zh.check(f"{changed} keys changed live, 0 need a restart" in out,
                 f"reload {k}: changed keys counted from the running configuration", out,
                 f"{changed} keys changed live")
        running = nxt
        good += 1
    return good, broken


def test(bins, state):
    rng = random.Random(1313)
    zones = zh.load_zones(bins)
    w_rel, w_pub = workload(zones, 131), workload(zones, 132)
    dirs = {"auth": [], "readers": []}
    for kind in dirs:
        for i in range(3):
            p = os.path.join(state, f"{kind}-{i}.d")
            os.makedirs(p)
            dirs[kind].append(p)
    running = random_config(rng, dirs)
    running[("batch", "max_events")] = START_CAP
    running[("batch", "backlog_events")] = START_CAP
    running[("validation", "dedup_window_days")] = 5
    conf_path = os.path.join(state, "torture.conf")
    write(conf_path, render(running))
    d = zh.Daemon(bins, state, ["-c", conf_path], log_level=None).start()
    cli = zh.Cli(bins, state)
    pubs = Publishers(bins, d, cli, round_files(w_rel, state, "rel", rng),
                      round_files(w_pub, state, "pub", rng))
    pubs.start()
    try:
        good, broken = torture(bins, d, conf_path, cli, pubs, rng, dirs, running)
    finally:
        if d.proc.poll() is not None:
            d.ensure_dead()
        pubs.join()
    zh.check_eq(ztreliable.publisher(cli, "torture-rel")["through_sequence"], pubs.rel_lines,
                "reliable path: every line acknowledged")
    zh.check_eq(ztreliable.publisher(cli, "torture-pub")["received"], pubs.pub_lines,
                "PUB path: every line received once")
    stats = cli.stats()
    zh.check_eq(stats["accepted"], len(w_rel.valid) + len(w_pub.valid),
                "each valid event of both paths accepted once")
    zh.check_eq(stats["balanced"], True, "received == accepted + duplicates + rejected")
    n = zh.verify_totals(cli, merged_expectation(w_rel, w_pub), zones, "after the torture")
    text = ztops.scrape(ztops.endpoints(state)["metrics"][0])
    big = (ztops.metric_value(text, "zonetally_batch_messages_count")
           - ztops.metric_value(text, "zonetally_batch_messages_bucket", {"le": "100"}))
    zh.check(big > 0, "batches larger than the start-up buffers were committed", big)
    print(f"reload torture: {good} good and {broken} broken reloads under load; "
          f"{pubs.rel_lines} reliable + {pubs.pub_lines} PUB lines, {stats['accepted']} "
          f"accepted, {int(big)} batches of more than 100 messages; {n} totals views exact")
    d.stop()


if __name__ == "__main__":
    zh.main(test, "test_reload_torture")
    sys.exit(1)
