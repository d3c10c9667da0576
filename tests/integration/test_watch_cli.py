#!/usr/bin/python3
"""test_watch_cli: `zonetally watch` as an operator meets it, and the reader example.

Terminal mode draws its table and keeps running until SIGTERM, fits the terminal's height
and redraws at once on SIGWINCH; a past period is refused and the current month is drawn;
when the daemon stops, both the table's header and the --json status lines turn stale, then
offline, within a few heartbeat periods; bad operands and a missing daemon are clear errors;
docs/example-reader.c (built against libzonetally.so) reads the same totals as `zonetally
get` while the daemon runs.
"""

import fcntl
import json
import os
import signal
import struct
import subprocess
import sys
import termios
import time
import unicodedata

import ztharness as zh
import ztwatch as zw


FRAME = b"\033[H\033[2J"


class Term:
    """`zonetally watch` on a pseudo-terminal of a given height."""

    def __init__(self, args, rows):
        self.master, slave = os.openpty()
        self.resize(rows, signal_it=False, fd=slave)
        self.proc = subprocess.Popen(args, stdout=slave, stderr=subprocess.PIPE)
        os.close(slave)
        self.out = b""

    def resize(self, rows, signal_it=True, fd=None):
        fcntl.ioctl(self.master if fd is None else fd, termios.TIOCSWINSZ,
                    struct.pack("HHHH", rows, 132, 0, 0))
        if signal_it:
            self.proc.send_signal(signal.SIGWINCH)

    def frames(self):
        """Every complete frame drawn so far (the text between two clear-screens)."""
        try:
            self.out += os.read(self.master, 65536)
        except BlockingIOError:
            pass
        return [f.decode(errors="replace") for f in self.out.split(FRAME)[1:-1]]

    def wait_frame(self, pred, what, timeout=30):
        os.set_blocking(self.master, False)
        found = []

        def seen():
            found[:] = [f for f in self.frames() if pred(f)]
            return bool(found)
        zh.wait_for(seen, timeout, what, interval=0.05)
        return found[-1]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        os.close(self.master)
        return rc


def table_rows(frame):
    return [ln for ln in frame.splitlines() if ln[:6].isdigit()]


def check_terminal(bins, cli, day):
    """Height, SIGWINCH and period options of the table."""
    rc, _, err = zh.run(cli + ["watch", "--month", "2001-01"])
    zh.check(rc == 2 and "current period only" in err and day[:7] in err,
             "watch refuses a past month, naming the current one", (rc, err))
    t = Term(cli + ["watch"], 10)
    try:
        f = t.wait_frame(lambda f: "live" in f and len(table_rows(f)) > 0,
                         "a live table in a 10-row terminal")
        zh.check(len(f.rstrip("\n").splitlines()) <= 10,
                 "the frame fits 10 rows", f.splitlines())
        zh.check_eq(len(table_rows(f)), 6, "10 rows leave room for 6 zones")
        t.resize(40)
        t.out = b""
        f = t.wait_frame(lambda f: len(table_rows(f)) > 6, "a taller table after SIGWINCH")
        zh.check(len(f.rstrip("\n").splitlines()) <= 40, "the frame fits 40 rows",
                 f.splitlines())
    finally:
        zh.check_eq(t.stop(), 0, "watch exits 0 on SIGTERM")
    t = Term(cli + ["watch", "--month", day[:7]], 30)
    try:
        t.wait_frame(lambda f: day[:7] + " (CST)" in f and "live" in f
                     and len(table_rows(f)) > 0, "the current month's table")
    finally:
        zh.check_eq(t.stop(), 0, "watch --month exits 0 on SIGTERM")


def check_daemon_gone(bins, cli, d):
    """SIGTERM to the daemon: the header and the status lines stop saying live."""
    t = Term(cli + ["watch"], 30)
    jw = zw.Watcher(bins, cli)
    try:
        t.wait_frame(lambda f: "live" in f, "a live table before the daemon stops")
        zh.wait_for(lambda: jw.states()[-1:] == ["live"], 30, "a live status line")
        d.stop()
        # heartbeat_ms 200: offline after 10 missed periods (2 s); it said live for over a
        # minute before. The deadline bounds the wait, no timing is asserted.
        zh.wait_for(lambda: "offline" in jw.states(), 30, "an offline status line",
                    interval=0.05)
        states = jw.states()
        zh.check(states[-3:] == ["live", "stale", "offline"], "live, then stale, then offline",
                 states)
        f = t.wait_frame(lambda f: "offline: no heartbeat for" in f, "an offline header")
        zh.check("live" not in f.splitlines()[0], "the header no longer says live", f)
    finally:
        zh.check_eq(t.stop(), 0, "watch exits 0 after its daemon stopped")
        jw.stop()


def display_width(text):
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def no_data(cli):
    """An empty period says so, and a zone outside its validity says why."""
    for args, want in ((["get", "330100", "--day", "2001-01-01"],
                        "no data for day 2001-01-01: the zone was approved in 2015, so events "
                        "before are rejected"),
                       (["get", "460100", "--year", "2026"],
                        "no data for year 2026: the zone was revoked from 2025, so events since "
                        "are rejected"),
                       (["get", "000000", "--day", "2001-01-01"], "no data for day 2001-01-01\n"),
                       (["top", "--day", "2001-01-01"], "no data for day 2001-01-01\n"),
                       (["provinces", "--day", "2001-01-01"], "no data for day 2001-01-01\n")):
        rc, out, err = zh.run(cli + args)
        zh.check(rc == 0 and want in out, f"zonetally {' '.join(args)} says no data", out + err)


def columns_hold(cli):
    """zones and top: however long a name, every row's columns start at the same place."""
    rc, out, err = zh.run(cli + ["zones"])
    zh.check_eq(rc, 0, f"zonetally zones: {err}")
    rows = [ln for ln in out.splitlines() if ln[:6].isdigit()]
    # the last column (name_check) is free text: everything before it has fixed widths
    widths = {display_width(ln) - len(ln.split()[-1]) for ln in rows}
    zh.check_eq(len(widths), 1, f"zones rows share their column widths {sorted(widths)}")
    rc, out, err = zh.run(cli + ["top", "-n", "100", "--all"])
    zh.check_eq(rc, 0, f"zonetally top: {err}")
    rows = [ln for ln in out.splitlines() if ln.strip()[:1].isdigit()]
    widths = {display_width(ln) for ln in rows}
    zh.check(len(rows) > 10 and len(widths) == 1, "top rows share their column widths",
             sorted(widths))


def reversal_by_list_no(bins, state, d, before):
    """NDJSON: a reversal names its original by ref_list_no (its id derived the same way)."""
    t0 = int(time.time() * 1000) - 60000
    lines = [{"list_no": "330100202612040001", "zone_code": 330100, "direction": "EXPORT",
              "mode": "9610", "value_fen": 12345, "item_count": 1, "declared_at_ms": t0},
             {"list_no": "330100202612040001-C", "kind": "CANCELLATION",
              "ref_list_no": "330100202612040001",
              "zone_code": 330100, "direction": "EXPORT", "mode": "9610", "value_fen": 12345,
              "item_count": 1, "declared_at_ms": t0}]
    path = os.path.join(state, "reversal.ndjson")
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(json.dumps(ln) + "\n" for ln in lines))
    zh.publish_file(bins, d.endpoint, path, ["--publisher", "reversals"])
    st = zh.Cli(bins, state).wait_received(before["received"] + 2)
    zh.check_eq((st["accepted"] - before["accepted"], st["rejected"] - before["rejected"]),
                (2, 0), "the declaration and its reversal by ref_list_no are both counted")
    bad = os.path.join(state, "reversal-twice-named.ndjson")
    with open(bad, "w", encoding="utf-8") as f:
        f.write(json.dumps(dict(lines[1], ref_event_id="00" * 16)) + "\n")
    rc, _, err = zh.run([bins.pub, "--endpoint", d.endpoint, "--file", bad])
    zh.check(rc == 2 and "both 'ref_event_id' and 'ref_list_no'" in err,
             "an original named twice is refused", err)


def test(bins, state):
    conf = zw.write_config(os.path.join(state, "w.conf"), "[feed]\nheartbeat_ms = 200\n")
    cli = [bins.cli, "--state-dir", state]
    rc, _, err = zh.run(cli + ["watch", "--json"])
    zh.check(rc == 1 and "no running daemon" in err, "watch without a daemon", (rc, err))
    rc, _, err = zh.run(cli + ["watch", "33x"])
    zh.check_eq(rc, 2, f"watch with a bad CODE exits 2 ({err.strip()})")
    rc, _, err = zh.run([bins.cli, "--connect", "tcp://127.0.0.1:1", "get", "000000"],
                        timeout=60)
    zh.check(rc == 1 and "tcp://127.0.0.1:1" in err, "get --connect to nobody fails", (rc, err))

    d = zh.Daemon(bins, state, ["-c", conf]).start()
    day = zw.today_cst()
    rc, _, err = zh.run([bins.pub, "--endpoint", d.endpoint, "--generate", "5000", "--day",
                         day, "--seed", "9", "--timeout", "30"], timeout=120)
    zh.check_eq(rc, 0, f"zonetally-pub: {err}")
    st = zh.Cli(bins, state).wait_received(5000)
    # generated events of today stop at the current time: none lies in the future
    zh.check(st["watermark_ms"] <= time.time() * 1000, "today's generated events end by now",
             st["watermark_ms"])
    zh.check(f"expected at the daemon: {st['accepted']:,} accepted, 0 duplicates" in err,
             "the summary says what the daemon should count", err)
    reversal_by_list_no(bins, state, d, st)
    columns_hold(cli)
    no_data(cli)
    rc, _, err = zh.run(cli + ["get", "330100", "--province"])
    zh.check(rc == 1 and "330100 is not a province code" in err and "not a zone" not in err,
             "get 330100 --province says why", err)
    term = subprocess.Popen(cli + ["watch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = b""
    try:
        def drawn():
            nonlocal out
            out += os.read(term.stdout.fileno(), 65536)
            return b"events/s" in out and b"live" in out and b"330100" in out
        zh.wait_for(drawn, 30, "the watch table with a live view and Hangzhou")
    finally:
        term.send_signal(signal.SIGTERM)
        rc = term.wait(timeout=30)
    zh.check_eq(rc, 0, "watch exits 0 on SIGTERM")
    check_terminal(bins, cli, day)

    reader = os.environ["ZT_EXAMPLE_READER"]
    rc, out, err = zh.run([reader, state])
    zh.check_eq(rc, 0, f"example-reader: {err}")
    nat = zh.Cli(bins, state).json("get", "000000", "--day", day)
    want = (f"today: import {nat['import']['value_fen']} fen in {nat['import']['events']} "
            f"events, export {nat['export']['value_fen']} fen in {nat['export']['events']} events")
    zh.check_eq(out.splitlines()[0], want, "example-reader agrees with zonetally get")
    check_daemon_gone(bins, cli, d)


if __name__ == "__main__":
    zh.main(test, "test_watch_cli")
    sys.exit(1)
