#!/usr/bin/python3
"""test_syslog: a detached zonetallyd logs to syslog (facility daemon), not to /dev/null.

Without --foreground the daemon points stderr at /dev/null once it is ready; what it logs
after that (rejections, a failed reload, COMMIT FAILED) must reach syslog. glibc's syslog(3)
writes to the fixed path /dev/log, so the daemon runs in a private mount namespace (`unshare
--mount`, root) whose /dev is a small tmpfs holding the host's null/zero/random nodes and,
as /dev/log, an AF_UNIX datagram socket this test reads. Then: the ready line, a rejection
of an event for zone 999999 and the stop line must arrive with the daemon facility, the
right priority and the ident zonetallyd[PID]. Where unshare or mount is not permitted the
test exits 77, which ctest reports as skipped (SKIP_RETURN_CODE), never as passed.
"""

import copy
import json
import os
import re
import signal
import socket
import subprocess
import sys

import ztharness as zh
import ztreliable

SKIP = 77
LOG_DAEMON = 3 << 3
LOG_WARNING, LOG_INFO = 4, 6
# /dev/log is a bind mount of the test's socket inside the namespace only.
NS_SCRIPT = r"""
set -e
mkdir -p "$D"
mount -t tmpfs -o mode=755,size=64k zt-dev "$D"
for n in null zero full random urandom; do
    touch "$D/$n"
    mount --bind "/dev/$n" "$D/$n"
done
ln -s /proc/self/fd "$D/fd"
touch "$D/log"
mount --bind "$SOCK" "$D/log"
mount --move "$D" /dev
exec "$@"
"""


def namespaces_work():
    """Whether this process may make a private mount namespace and mount in it."""
    try:
        p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            "mount -t tmpfs -o size=4k zt-probe /mnt"],
                           capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0


class Syslog:
    """The datagram socket the namespace's /dev/log points at; keeps every line received."""

    def __init__(self, state):
        self.path = os.path.join(state, "log.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.05)
        self.lines = []  # (priority, text)

    def pump(self):
        """Reads what has arrived."""
        while True:
            try:
                data = self.sock.recv(65536).decode(errors="replace")
            except (socket.timeout, BlockingIOError):
                return
            m = re.match(r"<(\d+)>(.*)", data, re.S)
            zh.check(m is not None, "a syslog datagram starts with <PRI>", data)
            self.lines.append((int(m.group(1)), m.group(2)))

    def wait(self, pri, pattern, what):
        """Waits for a line of priority pri whose text matches pattern; returns the match."""
        def found():
            self.pump()
            for p, text in self.lines:
                m = re.search(pattern, text)
                if p == pri and m:
                    return m
            return None
        try:
            return zh.wait_for(found, 30, what)
        except zh.TestFailure:
            raise zh.TestFailure(f"{what}: not in syslog; received {self.lines!r}")


def start_detached(bins, state, log):
    """zonetallyd without --foreground, in its namespace; returns once the parent exits."""
    args = [bins.daemon, "-c", "/dev/null", "--state-dir", state, "--zones", bins.zones_csv,
            "--sub-bind", "tcp://127.0.0.1:*", "--router-bind", "tcp://127.0.0.1:*",
            "--metrics-listen", "127.0.0.1:0", "--feed-bind", "tcp://127.0.0.1:*",
            "--query-bind", "tcp://127.0.0.1:*"]
    env = dict(os.environ, D=os.path.join(state, "ns-dev"), SOCK=log.path)
    p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", NS_SCRIPT,
                        "sh"] + args, env=env, capture_output=True, timeout=60)
    zh.check_eq(p.returncode, 0, f"detached start ({p.stderr.decode().strip()})")
    with open(os.path.join(state, "zonetallyd.endpoints"), encoding="utf-8") as f:
        eps = dict(line.split(None, 1) for line in f if " " in line)
    return eps["ingest"].strip(), p.stderr


def daemon_pid(state):
    """The daemon's pid, from its pid file (written when ready)."""
    path = os.path.join(state, "zonetallyd.pid")
    zh.wait_for(lambda: os.path.exists(path), 30, "the pid file")
    with open(path, encoding="utf-8") as f:
        return int(f.read())


def bad_event_file(bins, state):
    """A small reliable workload plus one event for zone 999999 (rejected unknown_zone)."""
    _, w, path = ztreliable.workload(bins, state, seed=5, n_valid=200, dup_ratio=0,
                                     invalid_ratio=0)
    bad = copy.deepcopy(w.valid[0])
    bad["event_id"] = "f" * 32
    bad["zone_code"] = 999999
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(bad, separators=(",", ":")) + "\n")
    return path


def test(bins, state):
    """Detached: ready, a rejection and the stop line reach syslog."""
    log = Syslog(state)
    path = bad_event_file(bins, state)
    ingest, terminal = start_detached(bins, state, log)
    pid, running = daemon_pid(state), True
    try:
        ident = rf"zonetallyd\[{pid}\]: "
        log.wait(LOG_DAEMON | LOG_INFO, ident + r"ready: \d+ zones", "the ready line")
        ztreliable.send(bins, ingest, path, "syslog")
        m = log.wait(LOG_DAEMON | LOG_WARNING, ident + r"rejected \(unknown_zone\): (.*)",
                     "the rejection, as a warning")
        os.kill(pid, signal.SIGTERM)
        log.wait(LOG_DAEMON | LOG_INFO, ident + r"stopped: ", "the stop line")
        running = False
        zh.check_eq(terminal, b"", "what a detached daemon that started says on the terminal")
    finally:
        if running:
            os.kill(pid, signal.SIGKILL)
    print(f"detached daemon pid {pid} logged to syslog: ready, 'rejected (unknown_zone): "
          f"{m.group(1)}', stopped")


if __name__ == "__main__":
    if not namespaces_work():
        print("SKIP: cannot make a private mount namespace (needs root and unshare(1)); "
              "the detached daemon's syslog output is not tested here")
        sys.exit(SKIP)
    zh.main(test, "test_syslog")
    sys.exit(1)
