#!/usr/bin/python3
"""test_security: CURVE encryption, the ZAP allowlist and zone authorisation (issue 6).

The daemon runs with [security] curve_secret_key_file set and one authorised publisher,
"hangzhou", allowed for zone 330100 only. The test proves, on the real daemon:
  - a secret key file readable by others is refused at start (exit status, clear message);
  - the authorised key gets in through `zonetally-pub --curve-server-key --curve-key`;
  - the same key sending an event for 440300 is rejected as unauthorized_zone, totals
    unchanged; with a publisher_id that is neither its name nor in its publisher-ids, as
    unauthorized_publisher, leaving no per-publisher state behind;
  - an unknown key is refused at the handshake (libzmq 4.3 would admit it without our ZAP
    handler), and so is a plaintext client: nothing of theirs is counted;
  - the acknowledged ROUTER path admits and authorises the same way; the query and feed
    sockets admit reader keys only;
  - after the key's file is removed and `zonetally reload` ran, the open connection's next
    message is rejected and a new connection with that key is refused.
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

import ztharness as zh
import ztops

HANDSHAKE_TIMEOUT_S = 20.0
REFUSED = {zmq.EVENT_HANDSHAKE_FAILED_AUTH}
PLAIN_FAILED = {zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
                zmq.EVENT_DISCONNECTED}


def keygen(bins, name, directory):
    """`zonetally keygen NAME --dir DIR`; returns (NAME.key path, NAME.pub path)."""
    rc, out, err = zh.run([bins.cli, "keygen", name, "--dir", directory])
    zh.check_eq(rc, 0, f"keygen {name}: {out}{err}")
    key, pub = (os.path.join(directory, f"{name}.{ext}") for ext in ("key", "pub"))
    zh.check_eq(stat.S_IMODE(os.stat(key).st_mode), 0o600, f"mode of {key}")
    return key, pub


def read_keys(path):
    """{"public-key": bytes, "secret-key": bytes} of a key file."""
    keys = {}
    with open(path, encoding="ascii") as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                name, _, value = line.partition("=")
                keys[name.strip()] = value.strip().encode()
    return keys


def setup(bins, work):
    """Config dir with the daemon's keys and the allowlist; a client key dir."""
    etc, clients = os.path.join(work, "etc"), os.path.join(work, "clients")
    allow = os.path.join(etc, "authorized_publishers.d")
    for d in (etc, clients, allow):
        os.makedirs(d)
    keygen(bins, "server", etc)
    for name in ("hangzhou", "stranger", "monitor"):
        keygen(bins, name, clients)
    readers = os.path.join(etc, "authorized_readers.d")
    os.makedirs(readers)
    shutil.copy(os.path.join(clients, "monitor.pub"), readers)
    shutil.copy(os.path.join(clients, "hangzhou.pub"), allow)
    with open(os.path.join(allow, "hangzhou.pub"), "a", encoding="ascii") as f:
        f.write("zones = 330100\npublisher-ids = hz-customs-1\n")
    conf = os.path.join(etc, "zonetallyd.conf")
    with open(conf, "w", encoding="ascii") as f:
        # relative: resolved against the configuration file's directory
        f.write("[security]\ncurve_secret_key_file = server.key\n")
    return etc, clients, conf


def event(seq, zone, publisher="hangzhou"):
    """A valid TradeEvent (wire dict) of yesterday for zone."""
    ms = int(time.time() * 1000) - 86400000 + seq
    return {"event_id": os.urandom(16), "publisher_id": publisher, "sequence": seq,
            "zone_code": zone, "direction": 2, "mode": 1, "value_fen": 1000 + seq,
            "item_count": 1, "declared_at_ms": ms}


def ndjson(path, zone, n):
    """An NDJSON file of n declarations for zone."""
    ms = int(time.time() * 1000) - 86400000
    with open(path, "w", encoding="ascii") as f:
        for i in range(n):
            f.write(f'{{"zone_code":{zone},"direction":"EXPORT","mode":"9610",'
                    f'"value_fen":{100 + i},"item_count":1,"declared_at_ms":{ms + i}}}\n')


class Client:
    """A raw client (XPUB by default) with a socket monitor, plaintext or CURVE."""

    def __init__(self, endpoint, server_pub=None, key_file=None, kind=zmq.XPUB):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(kind)
        self.sock.setsockopt(zmq.LINGER, 5000)
        if server_pub is not None:
            keys = read_keys(key_file)
            self.sock.curve_serverkey = read_keys(server_pub)["public-key"]
            self.sock.curve_publickey = keys["public-key"]
            self.sock.curve_secretkey = keys["secret-key"]
        self.mon = self.sock.get_monitor_socket()
        self.sock.connect(endpoint)

    def wait_event(self, wanted, what):
        """Waits for the first monitor event in `wanted`; fails on a handshake success."""
        deadline = time.monotonic() + HANDSHAKE_TIMEOUT_S
        while time.monotonic() < deadline:
            if not self.mon.poll(100):
                continue
            ev = recv_monitor_message(self.mon)["event"]
            if ev in wanted:
                return ev
            zh.check(ev != zmq.EVENT_HANDSHAKE_SUCCEEDED or ev in wanted,
                     f"{what}: the handshake must not succeed")
        raise zh.TestFailure(f"{what}: no {wanted} event within {HANDSHAKE_TIMEOUT_S} s")

    def send_after_subscription(self, frames):
        """Waits for the daemon's subscription (proof of a live connection), then sends."""
        zh.check(self.sock.poll(int(HANDSHAKE_TIMEOUT_S * 1000), zmq.POLLIN),
                 "subscription from the daemon")
        zh.check(self.sock.recv().startswith(b"\x01"), "an XPUB subscription message")
        self.sock.send_multipart(frames)

    def close(self):
        self.sock.disable_monitor()
        self.mon.close()
        self.sock.close()
        self.ctx.term()


def refuses_open_secret_key(bins, work, etc, conf):
    """A group/world-readable secret key: exit non-zero with the chmod advice."""
    key = os.path.join(etc, "server.key")
    rc, out, err = zh.run([bins.cli, "check-config", conf])
    zh.check_eq(rc, 0, f"check-config with CURVE keys: {out}{err}")
    os.chmod(key, 0o644)
    rc, out, err = zh.run([bins.cli, "check-config", conf])
    zh.check(rc == 1 and "chmod 600" in err, "check-config refuses an open secret key", err)
    state = os.path.join(work, "state-refused")
    p = subprocess.run([bins.daemon, "--foreground", "-c", conf, "--state-dir", state,
                        "--zones", bins.zones_csv, "--sub-bind", "tcp://127.0.0.1:*",
                        "--metrics-listen", "off"], capture_output=True, timeout=60)
    os.chmod(key, 0o600)
    err = p.stderr.decode(errors="replace")
    zh.check(p.returncode != 0, "exit status with an open secret key", p.returncode)
    zh.check("server.key" in err and "chmod 600" in err, "message names file and fix", err)


def by_reason(cli, reason):
    return cli.stats()["by_reason"][reason]


def publish(bins, d, args, zone, n, work, publisher="hz-customs-1"):
    """zonetally-pub over CURVE; returns (exit status, stderr)."""
    path = os.path.join(work, f"ev-{zone}-{n}-{publisher}.ndjson")
    ndjson(path, zone, n)
    rc, _, err = zh.run([bins.pub, "--endpoint", d.endpoint, "--file", path,
                         "--publisher", publisher, "--timeout", "10"] + args, timeout=60)
    return rc, err


def authorised_and_zone(bins, work, d, cli, etc, clients):
    """The listed key gets in for its zone; its event for 440300 is unauthorized_zone."""
    curve = ["--curve-server-key", os.path.join(etc, "server.pub"),
             "--curve-key", os.path.join(clients, "hangzhou.key")]
    rc, err = publish(bins, d, curve, 330100, 3, work)
    zh.check_eq(rc, 0, f"zonetally-pub with an authorised key: {err}")
    s = cli.wait_received(3)
    zh.check_eq(s["accepted"], 3, "accepted from the authorised key")
    before = cli.json("get", "440300", "--all")
    rc, err = publish(bins, d, curve, 440300, 2, work)
    zh.check_eq(rc, 0, f"zonetally-pub for a zone of another key: {err}")
    cli.wait_received(5)
    zh.check_eq(by_reason(cli, "unauthorized_zone"), 2, "unauthorized_zone count")
    zh.check_eq(cli.json("get", "440300", "--all"), before, "440300 totals unchanged")
    zh.check("key 'hangzhou' may not publish for zone 440300" in d.log_tail(20),
             "the rejection is logged with the key's name", d.log_tail(20))
    # publisher_id is bound to the key: its name or its publisher-ids, nothing else
    rc, err = publish(bins, d, curve, 330100, 1, work, publisher="guangzhou")
    zh.check_eq(rc, 0, f"zonetally-pub with another publisher_id: {err}")
    s = cli.wait_received(6)
    zh.check_eq((s["accepted"], s["by_reason"]["unauthorized_publisher"]), (3, 1),
                "accepted and unauthorized_publisher after a foreign publisher_id")
    zh.check("guangzhou" not in [p["id"] for p in s["publishers"]],
             "a foreign publisher_id leaves no per-publisher state", s["publishers"])


def refused_clients(bins, work, d, cli, etc, clients):
    """Unknown key and plaintext: refused at the handshake; nothing counted."""
    received = cli.stats()["received"]
    stranger = Client(d.endpoint, os.path.join(etc, "server.pub"),
                      os.path.join(clients, "stranger.key"))
    stranger.wait_event(REFUSED, "unknown key")
    stranger.close()
    zh.check("zap: refused publishers client key" in d.log_tail(30), "refusal logged",
             d.log_tail(10))
    plain = Client(d.endpoint)
    plain.wait_event(PLAIN_FAILED, "plaintext client")
    plain.sock.send_multipart([b"ev.330100", zh.encode_event(event(1, 330100))])
    plain.close()
    rc, err = publish(bins, d, ["--curve-server-key", os.path.join(etc, "server.pub"),
                                "--curve-key", os.path.join(clients, "stranger.key"),
                                "--timeout", "2"], 330100, 1, work)
    zh.check(rc != 0 and "refused the CURVE handshake" in err and "--curve-key" in err,
             "zonetally-pub with an unknown key fails, saying the key was refused", err)
    zh.check_eq(cli.stats()["received"], received, "nothing from refused clients counted")


def other_sockets(bins, work, d, cli, etc, clients):
    """The acknowledged ROUTER admits and authorises like the SUB socket; the query and feed
    sockets admit reader keys only (a publisher's key is not a reader's)."""
    server = os.path.join(etc, "server.pub")
    reliable = ["--reliable", "--endpoint", d.ingest_endpoint, "--curve-server-key", server]
    s0 = cli.stats()
    path = os.path.join(work, "reliable-330100.ndjson")
    ndjson(path, 330100, 4)
    rc, _, err = zh.run([bins.pub, "--file", path, "--publisher", "hangzhou",
                         "--timeout", "10", "--curve-key",
                         os.path.join(clients, "hangzhou.key")] + reliable, timeout=60)
    zh.check_eq(rc, 0, f"zonetally-pub --reliable over CURVE: {err}")
    s = cli.wait_received(s0["received"] + 4)
    zh.check_eq(s["accepted"], s0["accepted"] + 4, "acknowledged events over CURVE")
    rc, _, err = zh.run([bins.pub, "--file", path, "--publisher", "stranger",
                         "--timeout", "2", "--curve-key",
                         os.path.join(clients, "stranger.key")] + reliable, timeout=60)
    zh.check(rc != 0, "zonetally-pub --reliable with an unknown key fails", err)
    zh.check_eq(cli.stats()["received"], s["received"], "nothing counted from the unknown key")
    for name, ep in (("query", d.query), ("feed", d.feed)):
        kind = zmq.DEALER if name == "query" else zmq.SUB
        ok = Client(ep, server, os.path.join(clients, "monitor.key"), kind=kind)
        ok.wait_event({zmq.EVENT_HANDSHAKE_SUCCEEDED}, f"{name}: a reader key")
        ok.close()
        pub_key = Client(ep, server, os.path.join(clients, "hangzhou.key"), kind=kind)
        pub_key.wait_event(REFUSED, f"{name}: a publisher's key is not a reader's")
        pub_key.close()
        plain = Client(ep, kind=kind)
        plain.wait_event(PLAIN_FAILED, f"{name}: plaintext client")
        plain.close()
    remote = [bins.cli, "--connect", d.query, "--curve-server-key", server, "--curve-key"]
    get = ["get", "330100", "--all", "--json"]
    rc, out, err = zh.run(remote + [os.path.join(clients, "monitor.key")] + get, timeout=60)
    zh.check_eq(rc, 0, f"zonetally --connect over CURVE with a reader key: {err}")
    zh.check_eq(json.loads(out), cli.json(*get[:-1]), "remote get over CURVE equals local get")
    rc, out, err = zh.run(remote + [os.path.join(clients, "hangzhou.key")] + get, timeout=60)
    zh.check(rc == 1 and "refused the CURVE handshake" in err and "--curve-key" in err
             and "timed out" not in err,
             "zonetally --connect with a publisher's key: the refusal said as such", out + err)
    curve_diagnostics(bins, work, d, etc, clients)


def curve_diagnostics(bins, work, d, etc, clients):
    """A wrong server key and a plaintext client are told apart from a network timeout, and
    a --curve-server-key file whose path is 40 characters is read as a file."""
    wrong = [bins.cli, "--connect", d.query, "--curve-server-key",
             os.path.join(clients, "stranger.pub"), "--curve-key",
             os.path.join(clients, "monitor.key"), "get", "330100", "--all"]
    rc, out, err = zh.run(wrong, timeout=60)
    zh.check(rc == 1 and "--curve-server-key" in err and "handshake" in err,
             "a wrong --curve-server-key is named", out + err)
    print(f"wrong server key: {err.strip()}")
    rc, out, err = zh.run([bins.cli, "--connect", d.query, "get", "330100", "--all"],
                          timeout=60)
    zh.check(rc == 1 and "may require CURVE" in err and "timed out" not in err,
             "a plaintext --connect to a CURVE daemon says CURVE is required", out + err)
    # 36 letters and ".pub": 40 Z85 characters, so length alone would take it for a key
    name = "a" * 36 + ".pub"
    shutil.copy(os.path.join(etc, "server.pub"), os.path.join(work, name))
    ok = [bins.cli, "--connect", d.query, "--curve-server-key", name, "--curve-key",
          os.path.join(clients, "monitor.key"), "get", "330100", "--all"]
    p = subprocess.run(ok, cwd=work, capture_output=True, timeout=60)
    zh.check_eq(p.returncode, 0, f"a 40-character --curve-server-key path: {p.stderr!r}")


def revocation(bins, work, d, cli, etc, clients):
    """Remove hangzhou.pub, reload: its open connection's messages and new connections fail."""
    server, key = os.path.join(etc, "server.pub"), os.path.join(clients, "hangzhou.key")
    s0 = cli.stats()
    c = Client(d.endpoint, server, key)
    c.send_after_subscription([b"ev.330100", zh.encode_event(event(1, 330100))])
    s = cli.wait_received(s0["received"] + 1)
    zh.check_eq(s["accepted"], s0["accepted"] + 1, "accepted before the revocation")
    allow = os.path.join(etc, "authorized_publishers.d")
    bad = os.path.join(allow, "broken.pub")
    with open(bad, "w", encoding="ascii") as f:
        f.write("public-key = not-a-key\n")
    reload_cmd = [bins.cli, "--state-dir", d.state_dir, "reload", "--timeout", "30"]
    rc, out, err = zh.run(reload_cmd)
    zh.check(rc == 1 and "broken.pub: line 1" in err, "a bad allowlist file fails the reload",
             out + err)
    os.unlink(bad)
    os.unlink(os.path.join(allow, "hangzhou.pub"))
    rc, out, err = zh.run(reload_cmd)
    zh.check_eq(rc, 0, f"zonetally reload: {out}{err}")
    c.sock.send_multipart([b"ev.330100", zh.encode_event(event(2, 330100))])
    s = cli.wait_received(s0["received"] + 2)
    zh.check_eq(s["accepted"], s0["accepted"] + 1, "nothing accepted after the revocation")
    zh.check_eq(s["by_reason"]["unauthorized_zone"], s0["by_reason"]["unauthorized_zone"] + 1,
                "the revoked key's message on its open connection")
    c.close()
    again = Client(d.endpoint, server, key)
    again.wait_event(REFUSED, "revoked key, new connection")
    again.close()


def test(bins, work):
    etc, clients, conf = setup(bins, work)
    refuses_open_secret_key(bins, work, etc, conf)
    state = os.path.join(work, "state")
    os.makedirs(state)
    d = zh.Daemon(bins, state, extra_args=["-c", conf]).start()
    cli = zh.Cli(bins, state)
    zh.check("CURVE on" in d.log_tail(), "the daemon says CURVE is on", d.log_tail())
    authorised_and_zone(bins, work, d, cli, etc, clients)
    other_sockets(bins, work, d, cli, etc, clients)
    refused_clients(bins, work, d, cli, etc, clients)
    revocation(bins, work, d, cli, etc, clients)
    text = ztops.scrape(ztops.endpoints(state)["metrics"][0])
    refused = ztops.metric_value(text, "zonetally_zap_handshakes_total", {"result": "refused"})
    zh.check(refused is not None and refused >= 3, "refused handshakes in the metrics", refused)
    zh.check_eq(ztops.metric_value(text, "zonetally_messages_rejected_total",
                                   {"path": "pub", "reason": "unauthorized_zone"}), 3,
                "unauthorized_zone in the metrics")
    zh.check_eq(ztops.metric_value(text, "zonetally_messages_accepted_total",
                                   {"path": "reliable"}), 4,
                "the acknowledged path's events counted under path=\"reliable\"")
    d.stop()


if __name__ == "__main__":
    zh.main(test, "test_security")
    sys.exit(1)
