#!/usr/bin/python3
"""test_metrics: the Prometheus endpoint, as a scraper and as promtool see it.

Events (valid, duplicate and invalid ones) go to a daemon listening for metrics on an
ephemeral port (read back from the endpoints file); a scrape must pass `promtool check
metrics` (Debian's prometheus package) and its counters must equal `zonetally stats`, per
rejection reason too. A wrong path is a 404; `listen = off` serves nothing.
"""

import shutil
import subprocess
import sys
import urllib.error
import urllib.request

import ztharness as zh
import ztops


def promtool(text):
    """Runs `promtool check metrics` on a scrape; fails with its complaints."""
    tool = shutil.which("promtool")
    zh.check(tool is not None, "promtool installed (scripts/install-deps.sh: prometheus)")
    p = subprocess.run([tool, "check", "metrics"], input=text.encode(), capture_output=True,
                       timeout=60)
    zh.check_eq(p.returncode, 0, "promtool check metrics: "
                + (p.stdout + p.stderr).decode(errors="replace"))


def check_against_stats(text, stats):
    """Counters of the scrape equal those `zonetally stats` reads from the store."""
    for key, name in [("received", "received"), ("accepted", "accepted"),
                      ("duplicates", "duplicate")]:
        got = ztops.metric_value(text, f"zonetally_messages_{name}_total", {"path": "pub"})
        zh.check_eq(got, stats[key], f"metric {name} vs stats")
    for reason, n in stats["by_reason"].items():
        got = ztops.metric_value(text, "zonetally_messages_rejected_total",
                                 {"path": "pub", "reason": reason})
        zh.check_eq(got, n, f"rejected metric for {reason}")
    hist = ztops.metric_value(text, "zonetally_batch_messages_sum")
    zh.check_eq(hist, stats["received"], "batch size histogram sum == received")


def test(bins, work):
    _, w, path, state = ztops.workload_file(bins, work, seed=5, n_valid=5000)
    d = zh.Daemon(bins, state).start()
    addr = ztops.endpoints(state)["metrics"][0]
    zh.check(not addr.endswith(":0"), "the endpoints file has the bound metrics port", addr)
    promtool(ztops.scrape(addr))  # an idle daemon's scrape is valid too
    zh.publish_file(bins, d.endpoint, path)
    cli = zh.Cli(bins, state)
    stats = cli.wait_received(len(w.lines))

    def refreshed():
        text = ztops.scrape(addr)
        return text if ztops.metric_value(text, "zonetally_feed_seq") == stats["commits"] \
            else None
    text = zh.wait_for(refreshed, 10, "store gauges refreshed", interval=0.2)
    promtool(text)
    check_against_stats(text, stats)
    zh.check(ztops.metric_value(text, "zonetally_publisher_last_sequence",
                                {"publisher": "zonetally-pub"}) is not None,
             "per-publisher series present")
    zh.check(ztops.metric_value(text, "zonetally_store_map_fill_ratio") > 0, "map fill > 0")
    try:
        urllib.request.urlopen(f"http://{addr}/nope", timeout=5)
        raise zh.TestFailure("GET /nope did not fail")
    except urllib.error.HTTPError as e:
        zh.check_eq(e.code, 404, "status of an unknown path")
    d.stop()
    off = zh.Daemon(bins, state, ["--metrics-listen", "off"]).start()
    zh.check("metrics" not in ztops.endpoints(state), "listen = off: no metrics endpoint")
    off.stop()
    print(f"scrape of {len(text)} bytes passes promtool and matches stats")


if __name__ == "__main__":
    zh.main(test, "test_metrics")
    sys.exit(1)
