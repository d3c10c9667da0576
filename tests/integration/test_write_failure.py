#!/usr/bin/python3
"""test_write_failure: a commit that fails for good stops the acks, not the daemon.

Once the daemon is up, its file size limit is lowered (prlimit, soft limit) just above the
store's size, so the next commit fails with EFBIG as a full disk would fail it. A reliable
publisher must then get no acknowledgement and give up with a count; the daemon must stay up,
keep serving reads, and log the failure loudly. When the limit is lifted the writer's retry
succeeds by itself; the same input sent again is then acknowledged in full and every total
is exact: nothing was acknowledged that was not durable, nothing was counted twice.
"""

import os
import re
import subprocess
import sys

import ztharness as zh
import ztreliable

N_VALID = 20000


def prlimit(pid, soft):
    """Sets the soft RLIMIT_FSIZE of a running process (the hard limit stays)."""
    p = subprocess.run(["prlimit", "--pid", str(pid), f"--fsize={soft}:"],
                       capture_output=True, timeout=30)
    zh.check_eq(p.returncode, 0, f"prlimit ({p.stderr.decode().strip()})")


def log_has(d, text):
    """Whether the daemon's log contains text."""
    with open(d.log_path, encoding="utf-8", errors="replace") as f:
        return text in f.read()


def test(bins, state):
    """Fail, give up, heal, resend, exact."""
    zones, w, path = ztreliable.workload(bins, state, seed=53, n_valid=N_VALID, dup_ratio=0,
                                         invalid_ratio=0)
    d = zh.Daemon(bins, state).start()
    cli = zh.Cli(bins, state)
    size = os.path.getsize(os.path.join(state, "store", "data.mdb"))
    prlimit(d.proc.pid, size + 40960)
    err = ztreliable.send(bins, d.ingest_endpoint, path, "disk", timeout_s=3, want_rc=1)
    m = re.search(r"gave up: (\d+) events not acknowledged", err)
    zh.check(m is not None and int(m.group(1)) > 0, "it says how many", err)
    zh.check(d.proc.poll() is None, "the daemon is still running")
    zh.check_eq(cli.stats()["accepted"], 0, "reads still served; nothing committed")
    zh.wait_for(lambda: log_has(d, "COMMIT FAILED"), 30, "the failure logged")

    prlimit(d.proc.pid, "unlimited")
    zh.wait_for(lambda: log_has(d, "commit succeeded after"), 30, "the retry succeeding")
    ztreliable.send(bins, d.ingest_endpoint, path, "disk")  # the same input, healed
    _, n = ztreliable.check_exact(cli, w, zones, "after the write failure")
    print(f"write failure: publisher gave up on {m.group(1)} events, daemon stayed up; "
          f"after healing {n} totals views exact")
    d.stop()


if __name__ == "__main__":
    zh.main(test, "test_write_failure")
    sys.exit(1)
