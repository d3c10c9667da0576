#!/usr/bin/python3
"""test_state_lock: one daemon per state dir, and `zonetally reload` signals only that one.

zonetallyd holds a POSIX lock on <state_dir>/zonetallyd.lock for its lifetime. A second
daemon on the same state dir (in the foreground or detached) must be refused with the first
one's pid, and must leave the first's pid, endpoints and reload files as they were. After a
crash (SIGKILL) the pid file stays behind; once its pid is reused by an unrelated process (a
`sleep` here), `zonetally reload` must not signal it but say the pid file is stale. While a
daemon runs, `reload --pid` naming another process is refused too.
"""

import os
import subprocess
import sys

import ztharness as zh

FILES = ("zonetallyd.pid", "zonetallyd.endpoints", "zonetallyd.reload")


def reload(bins, state, *extra):
    """`zonetally reload`: (exit status, stdout + stderr)."""
    rc, out, err = zh.run([bins.cli, "--state-dir", state, "reload", "--timeout", "30"]
                          + list(extra))
    return rc, out + err


def contents(state):
    """{name: text} of the daemon's state files."""
    out = {}
    for name in FILES:
        with open(os.path.join(state, name), encoding="utf-8") as f:
            out[name] = f.read()
    return out


def second_daemon(bins, state, d, foreground):
    """Another zonetallyd on the same state dir: refused, naming the running one."""
    args = [bins.daemon, "-c", "/dev/null", "--state-dir", state, "--zones", bins.zones_csv,
            "--sub-bind", "tcp://127.0.0.1:*", "--router-bind", "tcp://127.0.0.1:*",
            "--feed-bind", "tcp://127.0.0.1:*", "--query-bind", "tcp://127.0.0.1:*",
            "--metrics-listen", "127.0.0.1:0"] + (["--foreground"] if foreground else [])
    rc, _, err = zh.run(args, timeout=30)
    how = "in the foreground" if foreground else "detached"
    zh.check(rc != 0, f"a second zonetallyd {how} must be refused", rc)
    want = f"another zonetallyd (pid {d.proc.pid}) holds '{state}'"
    zh.check(want in err, f"the refusal {how} names the running daemon", err, want)


def one_daemon(bins, state):
    """Two daemons on one state dir: the second refused, the first untouched."""
    d = zh.Daemon(bins, state).start()
    # the endpoints file comes first (the harness's readiness signal), then pid and reload
    zh.wait_for(lambda: all(os.path.exists(os.path.join(state, n)) for n in FILES), 30,
                "the pid and reload files")
    before = contents(state)
    for foreground in (True, False):
        second_daemon(bins, state, d, foreground)
        zh.check_eq(contents(state), before, "the first daemon's files after the second exits")
    zh.check(d.proc.poll() is None, "the first daemon still runs")
    rc, out = reload(bins, state)
    zh.check_eq(rc, 0, f"reload of the first daemon still works: {out}")
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        rc, out = reload(bins, state, "--pid", str(sleeper.pid))
        zh.check(rc != 0, "reload --pid of a process that does not hold the dir is refused",
                 out)
        zh.check(f"pid {sleeper.pid} does not hold" in out and str(d.proc.pid) in out,
                 "the refusal names both pids", out)
        zh.check(sleeper.poll() is None, "the unrelated process was not signalled")
    finally:
        sleeper.kill()
        sleeper.wait()
    return d


def stale_pid_file(bins, state, d):
    """A crash leaves the pid file; its pid now names an unrelated process."""
    d.kill9()
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        with open(os.path.join(state, "zonetallyd.pid"), "w", encoding="utf-8") as f:
            f.write(f"{sleeper.pid}\n")
        rc, out = reload(bins, state)
        zh.check(rc != 0, "reload with a stale pid file must fail", (rc, out))
        zh.check("zonetallyd.pid" in out and "stale" in out and str(sleeper.pid) in out,
                 "the refusal says the pid file is stale", out)
        zh.check(sleeper.poll() is None, "the unrelated process named by the stale pid file "
                 f"was signalled (exit {sleeper.returncode})")
    finally:
        sleeper.kill()
        sleeper.wait()
    d = zh.Daemon(bins, state).start()  # the crash left no lock behind
    rc, out = reload(bins, state)
    zh.check_eq(rc, 0, f"reload after the restart: {out}")
    d.stop()


def test(bins, state):
    """Second daemon refused, then the stale pid file after a crash."""
    d = one_daemon(bins, state)
    stale_pid_file(bins, state, d)
    print("second daemon refused (foreground and detached), first's files intact; "
          "stale pid file not signalled")


if __name__ == "__main__":
    zh.main(test, "test_state_lock")
    sys.exit(1)
