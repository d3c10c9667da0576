#!/usr/bin/python3
"""test_watch_cli: `zonetally watch` as an operator meets it, and the reader example.

Terminal mode draws its table and keeps running until SIGTERM; bad operands and a missing
daemon are clear errors; docs/example-reader.c (built against libzonetally.so) reads the
same totals as `zonetally get` while the daemon runs.
"""

import os
import signal
import subprocess
import sys

import ztharness as zh
import ztwatch as zw


def test(bins, state):
    conf = zw.write_config(os.path.join(state, "w.conf"))
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
    zh.Cli(bins, state).wait_received(5000)
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

    reader = os.environ["ZT_EXAMPLE_READER"]
    rc, out, err = zh.run([reader, state])
    zh.check_eq(rc, 0, f"example-reader: {err}")
    nat = zh.Cli(bins, state).json("get", "000000", "--day", day)
    want = (f"today: import {nat['import']['value_fen']} fen in {nat['import']['events']} "
            f"events, export {nat['export']['value_fen']} fen in {nat['export']['events']} events")
    zh.check_eq(out.splitlines()[0], want, "example-reader agrees with zonetally get")
    d.stop()


if __name__ == "__main__":
    zh.main(test, "test_watch_cli")
    sys.exit(1)
