#!/usr/bin/python3
"""test_http_api: the dashboard's HTTP side, as a client and as an attacker sees it.

/api/totals and /api/top answer exactly what `zonetally get|top --json` prints; the page's
files come with their content types, a revalidating cache policy and an ETag (304 on a
repeat); hostile input (huge URLs and headers, bad and repeated parameters, other methods,
path tricks, a flood of idle connections, more streams than allowed) gets 4xx answers or a
closed connection, never a crash, and ingest goes on meanwhile. With api_token_file set,
/api/ needs the bearer token (header or access_token) while / stays public; a token file
readable by others stops the daemon at start.
"""

import os
import socket
import sys

import ztharness as zh
import zthttp

TOKEN = "s3cret-token-for-the-wall-0123456789"


def check_api(addr, cli):
    """Every period form of /api/totals and /api/top equals the CLI's --json."""
    day = cli.json("get", "000000")["period"]["bucket"]
    for q, args in [("", []), (f"&period={day}", ["--day", day]), (f"&period={day[:7]}", ["--month", day[:7]]),
                    (f"&period={day[:4]}", ["--year", day[:4]]), ("&period=all", ["--all"])]:
        for code in ["000000", "330000", "330100"]:
            got = zthttp.get_json(addr, f"/api/totals?code={code}{q}")
            zh.check_eq(got, cli.json("get", code, *args), f"/api/totals?code={code}{q}")
        got = zthttp.get_json(addr, f"/api/top?n=5&by=export{q}")
        zh.check_eq(got, cli.json("top", "-n", "5", "--by", "export", *args), f"/api/top{q}")
    zh.check_eq(zthttp.get_json(addr, "/api/totals?code=460000&province=1"),
                cli.json("get", "460000", "--province"), "Hainan province, not the zone")


def check_static(addr):
    """Content types, cache headers, ETag revalidation."""
    for path, ctype in [("/", "text/html"), ("/dashboard.js", "text/javascript"),
                        ("/dashboard.css", "text/css")]:
        status, h, body = zthttp.get(addr, path)
        zh.check_eq(status, 200, f"status of {path}")
        zh.check(h["content-type"].startswith(ctype), f"content type of {path}", h["content-type"])
        zh.check_eq(h.get("cache-control"), "no-cache", f"cache policy of {path}")
        zh.check_eq(h.get("x-content-type-options"), "nosniff", f"nosniff on {path}")
        zh.check(len(body) > 100, f"{path} has content")
        status, _, body = zthttp.get(addr, path, {"If-None-Match": h["etag"]})
        zh.check_eq((status, body), (304, b""), f"repeat GET {path} with its ETag")
    status, h, _ = zthttp.get(addr, "/api/totals?code=000000")
    zh.check_eq(h.get("cache-control"), "no-store", "API answers are not cached")


def alive(addr, d):
    """The daemon runs and answers a valid request."""
    zh.check(d.proc.poll() is None, "zonetallyd still running\n" + d.log_tail())
    status, _, _ = zthttp.get(addr, "/api/totals?code=000000")
    zh.check_eq(status, 200, "a valid request after hostile ones")


def raw(addr, data, timeout=30):
    """Sends bytes on a fresh connection and ends the sending side, as a client that has said
    all it will say; returns the first line of the answer (b"" if closed). Without the
    half-close, bytes with no line end would leave the server waiting for the rest of a
    request until its idle timeout, which races a client timeout."""
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        try:
            s.sendall(data)
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # already closed by the server: the recv says so
            return s.recv(4096).split(b"\r\n")[0]
        except (ConnectionResetError, BrokenPipeError):
            return b""


def check_hostile(addr, d):
    bad = ["/api/totals", "/api/totals?code=", "/api/totals?code=12345", "/api/totals?code=1234567",
           "/api/totals?code=abcdef", "/api/totals?code=%ZZ%00", "/api/totals?code=000000&period=2022-13-45",
           "/api/totals?code=000000&period=garbage", "/api/totals?code=000000&period=",
           "/api/totals?code=999999", "/api/top?n=0", "/api/top?n=99999999999999999999",
           "/api/top?n=-1", "/api/top?by=sideways", "/api/stream?gran=hour", "/api/nothing",
           "/../../etc/passwd", "/dashboard.js/../../zones.csv", "/%2e%2e/%2e%2e/etc/passwd",
           "/api/totals?" + "&".join(f"k{i}=v" for i in range(100)) + "&code=bad"]
    for path in bad:
        status, _, body = zthttp.get(addr, path)
        zh.check(400 <= status < 500, f"GET {path[:60]} is refused", status)
        zh.check(b'"error"' in body, f"GET {path[:60]} says why", body[:100])
    for method in ["POST", "PUT", "DELETE", "PATCH"]:
        status, _, _ = zthttp.get(addr, "/api/totals?code=000000", method=method)
        zh.check_eq(status, 405, f"{method} is not allowed")
    first = raw(addr, b"GET /api/totals?code=" + b"1" * 200000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    zh.check(first == b"" or b" 414 " in first or b" 4" in first, "a 200 kB URL is refused", first)
    first = raw(addr, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n")
    zh.check(first == b"" or b" 4" in first, "a 100 kB header is refused", first)
    first = raw(addr, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(500))
    zh.check(first == b"" or b" 4" in first, "a TLS hello and random bytes are refused", first)
    first = raw(addr, b"BLAH\r\n\r\n")
    zh.check(first == b"" or b" 4" in first, "a request line without method and path", first)
    alive(addr, d)


def check_floods(bins, work, addr, d, cli, sent):
    """More streams than allowed, then 200 idle connections (past the listener's 64): the
    extra ones are refused or closed, open streams keep flowing, and ingest goes on."""
    streams = [zthttp.Stream(addr, "?gran=day") for _ in range(9)]
    statuses = sorted(s.status for s in streams)
    zh.check_eq(statuses, [200] * 8 + [503], "at most 8 streams at once")
    host, port = addr.rsplit(":", 1)
    idle = []
    for _ in range(200):
        try:
            idle.append(socket.create_connection((host, int(port)), timeout=5))
        except OSError:
            break
    zh.publish_file(bins, d.endpoint, zthttp.today_events(bins, os.path.join(work, "flood"), 300, 9, "flood"))
    cli.wait_received(sent + 300)  # ingest never waits for HTTP clients
    live = [s for s in streams if s.status == 200]
    for s in live:
        s.until(lambda e: e.get("event") == "update", "an update during the flood")
    zh.check(d.proc.poll() is None, "alive under the flood")
    for s in idle:
        s.close()
    for s in streams:
        s.close()
    zh.wait_for(lambda: zthttp.get(addr, "/api/totals?code=000000")[0] == 200, 30,
                "the listener serves again once the flood is gone", interval=0.2)
    return sent + 300


def check_token(bins, work, state):
    path = os.path.join(work, "token")
    with open(path, "w", encoding="utf-8") as f:
        f.write(TOKEN + "\n")
    os.chmod(path, 0o644)
    conf = zthttp.config(work, f"api_token_file = {path}\n")
    rc, _, err = zh.run([bins.daemon, "--foreground", "-c", conf, "--state-dir", state,
                         "--zones", bins.zones_csv, "--metrics-listen", "127.0.0.1:0",
                         "--sub-bind", "tcp://127.0.0.1:*", "--router-bind", "", "--feed-bind", "",
                         "--query-bind", ""], timeout=30)
    zh.check(rc != 0 and "api_token_file" in err, "a token file readable by others stops the start", err)
    os.chmod(path, 0o600)
    d = zh.Daemon(bins, state, ["-c", conf]).start()
    addr = zthttp.metrics_addr(state)
    status, h, _ = zthttp.get(addr, "/api/totals?code=000000")
    zh.check_eq(status, 401, "no token: 401")
    zh.check(h.get("www-authenticate", "").startswith("Bearer"), "the Bearer challenge", h)
    zh.check_eq(zthttp.get(addr, "/api/totals?code=000000", {"Authorization": "Bearer nope"})[0], 401,
                "a wrong token: 401")
    zh.check_eq(zthttp.get(addr, "/api/totals?code=000000", {"Authorization": "Bearer " + TOKEN})[0],
                200, "the bearer token")
    zh.check_eq(zthttp.get(addr, f"/api/top?access_token={TOKEN}")[0], 200, "access_token")
    zh.check_eq(zthttp.Stream(addr).status, 401, "the stream needs it too")
    zh.check_eq(zthttp.get(addr, "/")[0], 200, "the page itself is public")
    zh.check_eq(zthttp.get(addr, "/metrics")[0], 200, "/metrics unchanged")
    d.stop()


def test(bins, work):
    state, _, cli, d, addr = zthttp.start(bins, work)
    zh.publish_file(bins, d.endpoint, zthttp.today_events(bins, os.path.join(work, "a"), 2000, 1, "api"))
    cli.wait_received(2000)
    check_api(addr, cli)
    check_static(addr)
    check_hostile(addr, d)
    check_floods(bins, work, addr, d, cli, 2000)
    alive(addr, d)
    d.stop()
    check_token(bins, work, state)
    print("API equals the CLI; static files, hostile input, floods and the token behave")


if __name__ == "__main__":
    zh.main(test, "test_http_api")
    sys.exit(1)
