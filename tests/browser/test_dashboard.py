#!/usr/bin/python3
"""test_dashboard: the dashboard page in Debian's chromium, against the real daemon.

Publishes today's events, opens http://ADDR/ in headless chromium (playwright-core, from
npm into the build tree by the browser_npm_ci fixture) and checks what a person would see:
the national total equals `zonetally get 000000 --json`, the top zones and provinces are
filled, the connection is live; more events move the figures without a reload; the daemon
stopped shows as not live, and restarted on the same port the page reconnects by itself and
shows new totals. A screenshot is saved as ZT_ARTIFACTS/dashboard.png.

usage: test_dashboard.py ZONETALLYD ZONETALLY ZONETALLY_PUB SOURCE_DIR (ZT_NODE_MODULES,
ZT_ARTIFACTS in the environment)
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import ztharness as zh  # noqa: E402
import zthttp  # noqa: E402


class Browser:
    """driver.mjs as a subprocess: one JSON command line in, one JSON answer line out."""

    def __init__(self):
        here = os.path.dirname(os.path.abspath(__file__))
        env = dict(os.environ, NODE_PATH=os.environ["ZT_NODE_MODULES"])
        # ESM ignores NODE_PATH: run the driver from a copy beside node_modules
        mod_dir = os.path.dirname(os.environ["ZT_NODE_MODULES"])
        driver = os.path.join(mod_dir, "driver.mjs")
        with open(os.path.join(here, "driver.mjs"), encoding="utf-8") as src, \
                open(driver, "w", encoding="utf-8") as dst:
            dst.write(src.read())
        self.proc = subprocess.Popen(["node", driver], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, text=True)

    def call(self, cmd, **args):
        self.proc.stdin.write(json.dumps(dict(cmd=cmd, **args)) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        zh.check(line, f"browser driver answered {cmd}")
        ans = json.loads(line)
        zh.check(ans.get("ok"), f"browser {cmd}: {ans.get('error')}")
        return ans

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.write('{"cmd":"quit"}\n')
            self.proc.stdin.flush()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def yuan(fen):
    """The page's money format: ¥1,234,567.89."""
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def shows_cli_total(browser, cli, what):
    """Waits until the page's national total equals the CLI's; returns (view, cli total)."""
    last = {}

    def same():
        want = cli.json("get", "000000")["total"]
        last["v"] = v = browser.call("read")
        last["w"] = want
        return v if (v["total_fen"] == str(want["value_fen"]) and
                     v["events"] == str(want["events"])) else None
    try:
        view = zh.wait_for(same, 30, what, interval=0.25)
    except zh.TestFailure:
        raise zh.TestFailure(f"{what}: page {last.get('v')} vs CLI {last.get('w')}")
    zh.check_eq(view["total_text"], yuan(last["w"]["value_fen"]), "total as shown, in yuan")
    return view, last["w"]


def test(bins, work):
    state, conf, cli, d, addr = zthttp.start(bins, work)
    sent = 0
    for seed, n in [(1, 1500)]:
        zh.publish_file(bins, d.endpoint, zthttp.today_events(bins, os.path.join(work, "a.ndjson"), n, seed, "dash-a"))
        sent += n
    cli.wait_received(sent)
    browser = Browser()
    try:
        browser.call("goto", url=f"http://{addr}/")
        view, first = shows_cli_total(browser, cli, "national total as the CLI reports it")
        zh.check_eq(view["conn"], "live", "connection state shown")
        zh.check(len(view["zones"]) >= 10, "top zones drawn", view["zones"])
        zh.check(any(any("\u4e00" <= ch <= "\u9fff" for ch in n) for n in view["zone_names"]),
                 "zone names in Chinese", view["zone_names"][:3])
        zh.check(view["provinces"] >= 2, "province table filled", view["provinces"])
        top = cli.json("top", "-n", "1")["zones"][0]["code"]
        zh.check_eq(view["zones"][0], top, "first bar is the CLI's top zone")

        # paced, so that the events/s figure and its time series have something to show
        zh.publish_file(bins, d.endpoint, zthttp.today_events(bins, os.path.join(work, "b.ndjson"), 800, 2, "dash-b"), ["--rate", "400"])
        sent += 800
        cli.wait_received(sent)
        view, second = shows_cli_total(browser, cli, "total after more events, no reload")
        zh.check(second["value_fen"] > first["value_fen"], "the total moved", second, first)
        zh.wait_for(lambda: browser.call("read")["peak"] not in ("—", "", "0"), 10,
                    "events/s peak shown")
        shot = os.path.join(os.environ.get("ZT_ARTIFACTS", work), "dashboard.png")
        os.makedirs(os.path.dirname(shot), exist_ok=True)
        browser.call("shot", path=shot)

        d.stop()
        zh.wait_for(lambda: browser.call("read")["conn"] != "live", 15, "page shows the cut")
        port = addr.rsplit(":", 1)[1]
        d2 = zh.Daemon(bins, state, ["-c", conf, "--metrics-listen", f"127.0.0.1:{port}"]).start()
        zh.check_eq(zthttp.metrics_addr(state), addr, "restarted on the same address")
        zh.wait_for(lambda: browser.call("read")["conn"] == "live", 30, "page reconnected")
        zh.publish_file(bins, d2.endpoint, zthttp.today_events(bins, os.path.join(work, "c.ndjson"), 500, 3, "dash-c"))
        sent += 500
        cli.wait_received(sent)
        view, third = shows_cli_total(browser, cli, "total after the restart")
        zh.check(third["value_fen"] > second["value_fen"], "the total moved again", third, second)
        errors = browser.call("read")["console_errors"]
        d2.stop()
        print(f"screenshot: {shot}; console messages while the daemon was down: {len(errors)}")
    finally:
        browser.close()


if __name__ == "__main__":
    zh.main(test, "test_dashboard")
    sys.exit(1)
