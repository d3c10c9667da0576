#!/usr/bin/python3
"""test_disk_full: a full disk is named as such, shown in /metrics, and survives a restart.

The state dirs live on a small tmpfs (mounted by the test; it runs as root) whose free
space a filler file takes. Under a running daemon: a reliable publisher gets nothing acknowledged
and gives up, the log says "No space left on device" (not "Input/output error", which LMDB
reports for a short write), `zonetally_store_write_failing` is 1 and
`zonetally_store_write_errno` 28; once the filler is removed the retry succeeds by itself,
the gauge drops to 0, and the same input sent again leaves every total exact. Then a second
store takes a few events, its daemon is stopped, the disk filled again and the daemon
restarted on the full disk (a fresh store, so that LMDB has no free pages to commit into
without growing the file): it must start (the pid, endpoints and reload files cannot be written: a warning each, not a fatal
error), serve `zonetally stats` and `get` from the store, and refuse to acknowledge until
space is freed. Where mount is not permitted the test exits 77 (ctest: skipped).
"""

import json
import os
import subprocess
import sys

import ztharness as zh
import ztops
import ztreliable

SKIP = 77
N_VALID = 10000
TMPFS_MB = 48
ENOSPC = 28
LEFT = 100 << 10  # bytes left free on the "full" disk
HEAD = 300  # events the second store holds before the restart on a full disk


def mount_tmpfs(path):
    """A TMPFS_MB tmpfs at path; False when this process may not mount."""
    os.makedirs(path, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MB}m", "zt-disk-full", path],
                       capture_output=True, timeout=30)
    return p.returncode == 0


def fill(fs, left=0):
    """Takes every free byte of the tmpfs but `left` with a filler file; returns its path."""
    path = os.path.join(fs, "filler")
    with open(path, "ab", buffering=0) as f:
        chunk = b"\0" * (1 << 20)
        while True:
            try:
                f.write(chunk)
            except OSError:
                break
        for size in (65536, 4096, 1):  # the last partial pages too
            while True:
                try:
                    f.write(b"\0" * size)
                except OSError:
                    break
    st = os.statvfs(fs)
    zh.check_eq(st.f_bfree, 0, "free blocks left on the filled tmpfs")
    os.truncate(path, os.path.getsize(path) - left)
    return path


def log_has(path, text):
    """Whether the daemon log (outside the tmpfs) contains text."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return text in f.read()


def gauges(addr):
    """(write_failing, write_errno) from /metrics."""
    text = ztops.scrape(addr)
    return (ztops.metric_value(text, "zonetally_store_write_failing"),
            ztops.metric_value(text, "zonetally_store_write_errno"))


def fails_then_heals(bins, d, fs, path, w, zones):
    """Fill under the running daemon: nothing acked, ENOSPC said and shown; free: exact."""
    cli = zh.Cli(bins, d.state_dir)
    addr = ztops.endpoints(d.state_dir)["metrics"][0]
    zh.check_eq(gauges(addr), (0, 0), "gauges before the disk fills")
    # Leave a little: a commit then fills the disk part way through a write, which LMDB
    # reports as EIO (a short write); the daemon must still say ENOSPC.
    filler = fill(fs, LEFT)
    err = ztreliable.send(bins, d.ingest_endpoint, path, "full", timeout_s=3, want_rc=1)
    zh.check("gave up:" in err and "not acknowledged" in err, "the publisher gave up", err)
    zh.check_eq(ztreliable.publisher(cli, "full")["through_sequence"], 0, "nothing acked")
    zh.check_eq(cli.stats()["accepted"], 0, "reads still served; nothing committed")
    zh.wait_for(lambda: log_has(d.log_path, "COMMIT FAILED"), 30, "the failure logged")
    with open(d.log_path, encoding="utf-8", errors="replace") as f:
        failed = [ln for ln in f if "COMMIT FAILED" in ln]
    zh.check(all("No space left on device" in ln for ln in failed),
             "every failed commit is said to be a full disk", failed)
    zh.wait_for(lambda: gauges(addr) == (1, ENOSPC), 30, "write_failing 1, errno 28")
    os.unlink(filler)
    zh.wait_for(lambda: log_has(d.log_path, "commit succeeded after"), 60, "the retry")
    zh.wait_for(lambda: gauges(addr) == (0, 0), 30, "the gauges back to 0")
    ztreliable.send(bins, d.ingest_endpoint, path, "full")
    _, n = ztreliable.check_exact(cli, w, zones, "after the disk was freed")
    return len(failed), n


def restart_on_full_disk(bins, work, fs, path, w, zones):
    """A fresh store takes a few events; stop, fill, restart on the full disk: reads are
    served, nothing more is acked until space is freed, then every total is exact."""
    state = os.path.join(fs, "state2")
    os.makedirs(state)
    head = os.path.join(work, "head.ndjson")
    with open(head, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(ev, separators=(",", ":")) + "\n" for ev in w.lines[:HEAD])
    d = zh.Daemon(bins, state, ["-c", "/dev/null"])
    d.log_path = os.path.join(work, "zonetallyd-2.log")
    d.start()
    ztreliable.send(bins, d.ingest_endpoint, head, "full")
    eps = ztops.endpoints(state)
    d.stop()
    filler = fill(fs)
    pinned = ["-c", "/dev/null", "--router-bind", eps["ingest"][0], "--metrics-listen",
              eps["metrics"][0]]
    d = zh.Daemon(bins, state, pinned)
    d.log_path = os.path.join(work, "zonetallyd-3.log")
    start_without_endpoints(d)
    for name in ("zonetallyd.endpoints", "zonetallyd.pid"):
        zh.check(log_has(d.log_path, f"cannot write {state}/{name}: No space left on device"),
                 f"a warning that {name} cannot be written", d.log_tail())
    cli = zh.Cli(bins, state)
    zh.check_eq(cli.stats()["accepted"], HEAD, "stats served on the full disk")
    rc, _, err = zh.run([bins.cli, "--state-dir", state, "get", "330100", "--json"])
    zh.check_eq(rc, 0, f"zonetally get on the full disk ({err.strip()})")
    ztreliable.send(bins, eps["ingest"][0], path, "full", timeout_s=3, want_rc=1)
    zh.check_eq(ztreliable.publisher(cli, "full")["through_sequence"], HEAD,
                "nothing more acked on the full disk")
    zh.check_eq(cli.stats()["accepted"], HEAD, "nothing more committed on the full disk")
    zh.wait_for(lambda: gauges(eps["metrics"][0]) == (1, ENOSPC), 30, "write_failing 1")
    os.unlink(filler)
    zh.wait_for(lambda: log_has(d.log_path, "commit succeeded after"), 60, "the retry")
    ztreliable.send(bins, eps["ingest"][0], path, "full")
    _, n = ztreliable.check_exact(cli, w, zones, "after the restart on a full disk")
    d.proc.terminate()
    zh.check_eq(d.proc.wait(timeout=30), 0, "exit status after SIGTERM")
    return n


def start_without_endpoints(d):
    """Starts d as the harness does, ready when its log says so (not by its endpoints file)."""
    args = [d.bins.daemon, "--foreground", "--state-dir", d.state_dir,
            "--zones", d.bins.zones_csv, "--sub-bind", "tcp://127.0.0.1:*",
            "--feed-bind", "tcp://127.0.0.1:*", "--query-bind", "tcp://127.0.0.1:*"]
    args += d.extra_args
    with open(d.log_path, "ab") as log:
        d.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=subprocess.STDOUT)

    def ready():
        if d.proc.poll() is not None:
            raise zh.TestFailure(f"zonetallyd exited with {d.proc.returncode} on the full "
                                 "disk\n" + d.log_tail())
        return log_has(d.log_path, "ready: ")
    zh.wait_for(ready, 30, "the ready line on a full disk")


def test(bins, work):
    """Fill under a running daemon, then restart on a full disk."""
    fs = os.path.join(work, "fs")
    if not mount_tmpfs(fs):
        print("SKIP: cannot mount a tmpfs (needs root); the full-disk paths are not tested")
        sys.exit(SKIP)
    d = None
    try:
        state = os.path.join(fs, "state")
        zones, w, path = ztreliable.workload(bins, work, seed=71, n_valid=N_VALID,
                                             dup_ratio=0, invalid_ratio=0)
        os.makedirs(state)
        d = zh.Daemon(bins, state, ["-c", "/dev/null"])
        d.log_path = os.path.join(work, "zonetallyd.log")  # off the tmpfs, so it is kept
        d.start()
        failed, n = fails_then_heals(bins, d, fs, path, w, zones)
        d.stop()
        n2 = restart_on_full_disk(bins, work, fs, path, w, zones)
    finally:
        for x in zh._LIVE:  # before the unmount, which a running daemon would keep busy
            x.ensure_dead()
        subprocess.run(["umount", "-l", fs], capture_output=True, timeout=30)
    print(f"disk full: {failed} failed commits said ENOSPC, gauge 1, nothing acked; freed: "
          f"{n} totals views exact; restart on a full disk served reads, {n2} views exact")


if __name__ == "__main__":
    zh.main(test, "test_disk_full")
    sys.exit(1)
