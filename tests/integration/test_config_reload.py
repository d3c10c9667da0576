#!/usr/bin/python3
"""test_config_reload: `zonetally reload` and `check-config`, on a daemon under load.

A publisher streams events over the PUB path while the test rewrites the configuration
and runs `zonetally reload` (SIGHUP, then waits for the daemon's verdict): a new log level
takes effect (debug commit lines appear), a key that needs a restart is reported as such,
and a broken file makes `reload` fail with FILE:LINE while the daemon keeps the running
configuration and keeps ingesting. When the publisher is done, every event it sent has been
received and the totals are exact: nothing was dropped across the reloads. (The acked
path is issue 3's; the PUB path with a wait-then-compare shows the same property here.)
"""

import os
import sys

import ztharness as zh
import ztops

N_VALID = 30000
RATE = "15000"

GOOD = "[daemon]\nlog_level = info\n[batch]\nmax_events = 2000\n"
DEBUG = "[daemon]\nlog_level = debug\n[batch]\nmax_events = 20000\nmax_ms = 2\n" \
        "[ingest]\nrcvhwm = 5000\n"
BROKEN = "[daemon]\nlog_level = debug\n[batch]\nmax_events = many\n"


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def reload(bins, state):
    """`zonetally reload`: (exit status, output)."""
    rc, out, err = zh.run([bins.cli, "--state-dir", state, "reload", "--timeout", "30"])
    return rc, out + err


def check_config_cli(bins, work):
    """check-config: OK for a good file; FILE:LINE for unknown keys and bad values."""
    path = os.path.join(work, "check.conf")
    write(path, GOOD)
    rc, out, _ = zh.run([bins.cli, "check-config", path])
    zh.check_eq((rc, "configuration OK" in out), (0, True), f"check-config good file: {out}")
    sample = os.path.join(bins.src, "systemd", "zonetallyd.conf")
    rc, out, err = zh.run([bins.cli, "check-config", sample])
    zh.check_eq(rc, 0, f"check-config on the shipped sample: {out}{err}")
    for text, line, what in [("[daemon]\nlog_levle = info\n", 2, "unknown key"),
                             ("[batch]\nmax_events = 0\n", 2, "out of range"),
                             ("[nope]\nx = 1\n", 2, "unknown section"),
                             (BROKEN, 4, "not a whole decimal number")]:
        write(path, text)
        rc, _, err = zh.run([bins.cli, "check-config", path])
        zh.check_eq(rc, 1, f"check-config exit status for {what}")
        zh.check(f"{path}:{line}:" in err and what in err, f"check-config says {what}", err)


def reloads_under_load(bins, state, conf, d):
    """Reloads while the publisher runs; returns the log offset after the failed reload."""
    rc, out = reload(bins, state)
    zh.check_eq(rc, 0, f"reload of an unchanged file: {out}")
    write(conf, DEBUG)
    rc, out = reload(bins, state)
    zh.check_eq(rc, 0, f"reload to debug: {out}")
    zh.check("need a restart" in out and "1 need" in out, "rcvhwm reported as restart-only",
             out)
    zh.wait_for(lambda: "debug: commit:" in d.log_tail(200), 30, "debug lines after reload")
    write(conf, BROKEN)
    rc, out = reload(bins, state)
    zh.check_eq(rc, 1, f"reload of a broken file fails: {out}")
    zh.check(f"{conf}:4:" in out and "keeping the running configuration" in out,
             "reload failure says FILE:LINE and keeps the running config", out)
    return os.path.getsize(d.log_path)


def test(bins, work):
    check_config_cli(bins, work)
    conf = os.path.join(work, "zonetallyd.conf")
    write(conf, GOOD)
    zones, w, path, state = ztops.workload_file(bins, work, seed=11, n_valid=N_VALID)
    d = zh.Daemon(bins, state, ["-c", conf], log_level=None).start()
    cli = zh.Cli(bins, state)
    pub = ztops.paced_publisher(bins, d.endpoint, path, RATE)
    try:
        ztops.wait_committed(cli, 1, "first commit")
        offset = reloads_under_load(bins, state, conf, d)
        zh.check(pub.poll() is None, "the publisher was still sending during the reloads")
        _, err = pub.communicate(timeout=120)
        zh.check_eq(pub.returncode, 0, f"zonetally-pub exit status {err.decode()}")
    finally:
        if pub.poll() is None:
            pub.kill()
    stats = cli.wait_received(len(w.lines), timeout=120)
    zh.check_eq(stats["accepted"], len(w.valid), "accepted: every valid event, once")
    with open(d.log_path, encoding="utf-8") as f:
        f.seek(offset)
        zh.check("debug: commit:" in f.read(), "debug level kept after the failed reload")
    n = zh.verify_totals(cli, w.expected, zones, "after reloads")
    print(f"{len(w.lines)} messages, 3 reloads, {n} totals views exact")
    d.stop()
    rc, out = reload(bins, state)
    zh.check(rc == 1 and "no daemon" in out, "reload with no daemon running fails clearly", out)


if __name__ == "__main__":
    zh.main(test, "test_config_reload")
    sys.exit(1)
