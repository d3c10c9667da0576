"""ztops: what the operations tests (issue 5) share beyond ztharness.

A real systemd notification socket (an AF_UNIX datagram socket made by the test, as
systemd makes one for a Type=notify service), scraping the metrics endpoint, and small
helpers around the daemon's state files.
"""

import os
import socket
import subprocess
import time
import urllib.request

import ztgen
import ztharness as zh


class NotifySocket:
    """A NOTIFY_SOCKET: collects every datagram the daemon sends, with its arrival time."""

    def __init__(self, workdir):
        self.path = os.path.join(workdir, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.05)
        self.messages = []  # (monotonic time, {key: value})

    def env(self, watchdog_usec=None, extra=None):
        """The environment a daemon started by systemd would get."""
        env = dict(os.environ, NOTIFY_SOCKET=self.path)
        if watchdog_usec:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        env.update(extra or {})
        return env

    def pump(self):
        """Reads whatever has arrived; returns the new messages."""
        new = []
        while True:
            try:
                data = self.sock.recv(4096)
            except (socket.timeout, BlockingIOError):
                break
            fields = dict(line.split("=", 1) for line in data.decode().splitlines()
                          if "=" in line)
            new.append((time.monotonic(), fields))
        self.messages.extend(new)
        return new

    def wait(self, key, value=None, timeout=30.0, after=0.0):
        """Waits for a message carrying key (=value) received after `after`; returns it."""
        def found():
            self.pump()
            for t, m in self.messages:
                if t >= after and key in m and (value is None or m[key] == value):
                    return (t, m)
            return None
        return zh.wait_for(found, timeout, f"notification {key}={value or '*'}")

    def idle(self, seconds):
        """Keeps receiving for `seconds`, so that arrival times stay accurate."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.pump()

    def count(self, key, since, until=None):
        """How many messages carrying key arrived in [since, until)."""
        self.pump()
        return sum(1 for t, m in self.messages
                   if key in m and t >= since and (until is None or t < until))

    def close(self):
        self.sock.close()


def start_daemon(bins, state, env, extra_args=()):
    """zh.Daemon started with a custom environment (NOTIFY_SOCKET, fault hooks)."""
    os.makedirs(state, exist_ok=True)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        return zh.Daemon(bins, state, extra_args).start()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def endpoints(state):
    """The daemon's endpoints file as {kind: [addresses]}."""
    out = {}
    with open(os.path.join(state, "zonetallyd.endpoints"), encoding="utf-8") as f:
        for line in f:
            kind, _, addr = line.strip().partition(" ")
            out.setdefault(kind, []).append(addr)
    return out


def tcp_accepts(endpoint):
    """Whether tcp://HOST:PORT (or HOST:PORT) accepts a connection right now."""
    hostport = endpoint.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


def scrape(addr, timeout=10):
    """GET http://ADDR/metrics; returns the body as text."""
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=timeout) as r:
        zh.check_eq(r.status, 200, "metrics HTTP status")
        return r.read().decode()


def metric_value(text, name, labels=None):
    """The value of one sample in a Prometheus text exposition (None if absent)."""
    want = name if not labels else name + "{" + ",".join(
        f'{k}="{v}"' for k, v in labels.items()) + "}"
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if key == want:
            return float(value)
    return None


def workload_file(bins, work, seed, n_valid):
    """A ztgen workload written to WORK/events.ndjson, and a fresh state dir WORK/state."""
    zones = zh.load_zones(bins)
    w = ztgen.Workload(zones, seed=seed, n_valid=n_valid)
    path = os.path.join(work, "events.ndjson")
    w.write(path)
    state = os.path.join(work, "state")
    os.makedirs(state, exist_ok=True)
    return zones, w, path, state


def paced_publisher(bins, endpoint, path, rate, timeout=60):
    """zonetally-pub sending the file at `rate` ev/s in the background (stderr piped)."""
    return subprocess.Popen([bins.pub, "--endpoint", endpoint, "--file", path, "--rate",
                             str(rate), "--timeout", str(timeout)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_committed(cli, n, what=None):
    """Waits until the store has received at least n messages."""
    zh.wait_for(lambda: cli.stats().get("received", 0) >= n, 60, what or f"{n} committed",
                interval=0.02)
