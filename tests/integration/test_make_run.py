#!/usr/bin/python3
"""test_make_run: `make run` (scripts/run.sh) works from a source checkout alone.

It reads no system configuration and serves the dashboard from ./dashboard: the daemon it
starts answers GET / with the tree's index.html (it answered 404 when the dashboard
directory defaulted to /usr/share/zonetally/dashboard). The run binds free ports here, in a
scratch working directory, so that it runs beside other tests.
"""

import os
import signal
import subprocess
import sys
import urllib.request

import ztharness as zh


def test(bins, work):
    build = os.path.dirname(os.path.dirname(bins.daemon))  # BUILD_DIR/daemon/zonetallyd
    script = os.path.join(bins.src, "scripts", "run.sh")
    args = [script, build, "--sub-bind", "tcp://127.0.0.1:*", "--router-bind",
            "tcp://127.0.0.1:*", "--feed-bind", "tcp://127.0.0.1:*", "--query-bind",
            "tcp://127.0.0.1:*", "--metrics-listen", "127.0.0.1:0"]
    log = open(os.path.join(work, "run.log"), "wb")
    p = subprocess.Popen(args, cwd=work, stdout=log, stderr=subprocess.STDOUT)
    eps_path = os.path.join(work, ".demo", "state", "zonetallyd.endpoints")
    try:
        zh.wait_for(lambda: os.path.exists(eps_path) or p.poll() is not None, 30,
                    "make run's daemon ready")
        zh.check(p.poll() is None, "make run's daemon is running", p.returncode)
        with open(eps_path, encoding="utf-8") as f:
            eps = dict(line.split(None, 1) for line in f if " " in line)
        url = f"http://{eps['metrics'].strip()}/"
        with urllib.request.urlopen(url, timeout=10) as r:
            body = r.read()
        with open(os.path.join(bins.src, "dashboard", "index.html"), "rb") as f:
            zh.check_eq(body, f.read(), f"GET {url} serves ./dashboard/index.html")
        with open(os.path.join(work, ".demo", "run.conf"), encoding="utf-8") as f:
            zh.check("dashboard_dir = " + os.path.join(bins.src, "dashboard") in f.read(),
                     "run.conf names the tree's dashboard")
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=30)
        log.close()
    zh.check_eq(rc, 0, "make run's daemon stops cleanly on SIGTERM")


if __name__ == "__main__":
    zh.main(test, "test_make_run")
    sys.exit(1)
