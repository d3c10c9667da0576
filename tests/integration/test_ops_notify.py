#!/usr/bin/python3
"""test_ops_notify: the systemd notification protocol, against a real NOTIFY_SOCKET.

The test plays systemd: it makes the datagram socket, starts zonetallyd with NOTIFY_SOCKET
and WATCHDOG_USEC, and checks what arrives: READY=1 only once the ingest socket accepts
connections; WATCHDOG=1 at about half the interval while the loop turns; RELOADING=1 then
READY=1 around SIGHUP; STATUS= with the live rate; STOPPING=1 on SIGTERM and exit 0. A
second daemon is wedged with the test-only fault hook (ZT_TEST_WEDGE_AFTER_MS): its
watchdog pings must stop, which is what makes systemd restart a stuck daemon.
"""

import signal
import sys
import time

import ztharness as zh
import ztops

WATCHDOG_USEC = 400000  # 400 ms: pings every ~200 ms


def check_ready(ns, d, state):
    """READY=1 came, and by then the SUB socket (and the metrics port) accepted connections."""
    t_ready, m = ns.wait("READY", "1")
    zh.check("STATUS" in m, "READY carries a STATUS", m)
    eps = ztops.endpoints(state)
    zh.check(ztops.tcp_accepts(d.endpoint), "SUB endpoint accepts at READY", d.endpoint)
    for addr in eps.get("metrics", []):
        zh.check(ztops.tcp_accepts(addr), "metrics endpoint accepts at READY", addr)
    return t_ready


def check_watchdog(ns, since):
    """About one ping per 200 ms over 1.2 s (at least 3, generous for a loaded CI box)."""
    start = max(since, time.monotonic())
    ns.idle(1.2)
    n = ns.count("WATCHDOG", start)
    zh.check(n >= 3, "WATCHDOG=1 pings in 1.2 s with WatchdogSec=0.4s", n, ">= 3")


def check_reload(ns, d):
    """SIGHUP: RELOADING=1, then READY=1 again."""
    t0 = time.monotonic()
    d.proc.send_signal(signal.SIGHUP)
    t_rel, _ = ns.wait("RELOADING", "1", after=t0)
    t_ready, _ = ns.wait("READY", "1", after=t_rel)
    zh.check(t_ready >= t_rel, "READY=1 after RELOADING=1")


def check_stop(ns, d):
    """SIGTERM: STOPPING=1 and exit 0."""
    t0 = time.monotonic()
    d.stop()
    ns.wait("STOPPING", "1", after=t0, timeout=5)


def check_wedge(bins, state, ns):
    """With the fault hook the loop wedges after 1.5 s: pings before, none after."""
    env = ns.env(WATCHDOG_USEC, {"ZT_TEST_WEDGE_AFTER_MS": "1500"})
    t0 = time.monotonic()
    d = ztops.start_daemon(bins, state, env)
    ns.wait("READY", "1", after=t0)
    zh.wait_for(lambda: (ns.pump(), "wedging" in d.log_tail())[1], 20,
                "the wedge hook to fire")
    t_wedged = time.monotonic()
    ns.idle(1.5)
    before = ns.count("WATCHDOG", t0, t_wedged)
    after = ns.count("WATCHDOG", t_wedged + 0.3)
    zh.check(before >= 2, "WATCHDOG pings before the wedge", before, ">= 2")
    zh.check_eq(after, 0, "WATCHDOG pings after the loop wedged")
    zh.check(d.proc.poll() is None, "a wedged daemon is still alive (systemd kills it)")
    d.kill9()


def test(bins, work):
    ns = ztops.NotifySocket(work)
    try:
        state = f"{work}/a"
        t0 = time.monotonic()
        d = ztops.start_daemon(bins, state, ns.env(WATCHDOG_USEC))
        t_ready = check_ready(ns, d, state)
        zh.check(t_ready >= t0, "READY after start")
        check_watchdog(ns, t_ready)
        check_reload(ns, d)
        _, m = ns.wait("STATUS", None, timeout=15, after=time.monotonic())
        print(f"STATUS seen: {m['STATUS']}")
        check_stop(ns, d)
        check_wedge(bins, f"{work}/b", ns)
    finally:
        ns.close()


if __name__ == "__main__":
    zh.main(test, "test_ops_notify")
    sys.exit(1)
