#!/usr/bin/python3
"""test_metrics_publishers: /metrics keeps the busiest publishers, and every one with gaps.

The exposition shows at most 1,000 publishers (label cardinality). 1,100 publishers that
sent one event each and whose ids sort first ("a0000".."a1099"), and one busy publisher
("zz-busy", sorting last) whose sequence has a gap, all reach the daemon; the scrape must
show zz-busy with its gap, and exactly 1,000 publishers (issue 14, finding 6: the first
1,000 in key order were kept, so the busy one vanished).
"""

import json
import os
import sys

import ztharness as zh
import ztops
import zthttp

N_SMALL = 1100
N_BUSY = 200
GAP = range(100, 120)  # sequences zz-busy never sends


def events(bins, work):
    """NDJSON: one event per small publisher, then zz-busy's sequences with a hole."""
    path = zthttp.today_events(bins, os.path.join(work, "base.ndjson"), N_SMALL + N_BUSY,
                               seed=14, publisher="x")
    out = os.path.join(work, "events.ndjson")
    with open(path, encoding="utf-8") as f, open(out, "w", encoding="utf-8") as g:
        for i, line in enumerate(f):
            ev = json.loads(line)
            if i < N_SMALL:
                ev["publisher_id"], ev["sequence"] = f"a{i:04d}", 1
            else:
                seq = i - N_SMALL + 1
                if seq in GAP:
                    continue
                ev["publisher_id"], ev["sequence"] = "zz-busy", seq
            g.write(json.dumps(ev) + "\n")
    return out, N_SMALL + N_BUSY - len(GAP)


def test(bins, work):
    state = os.path.join(work, "state")
    os.mkdir(state)
    d = zh.Daemon(bins, state).start()
    addr = ztops.endpoints(state)["metrics"][0]
    path, n = events(bins, work)
    zh.publish_file(bins, d.endpoint, path)
    zh.Cli(bins, state).wait_received(n)

    def refreshed():
        text = ztops.scrape(addr)
        seq = ztops.metric_value(text, "zonetally_publisher_last_sequence",
                                 {"publisher": "zz-busy"})
        return text if seq == N_BUSY else None
    text = zh.wait_for(refreshed, 20, "zz-busy's last sequence in /metrics", interval=0.2)
    zh.check_eq(ztops.metric_value(text, "zonetally_publisher_gap_events_total",
                                   {"publisher": "zz-busy"}), len(GAP), "zz-busy's gap size")
    shown = [line for line in text.splitlines()
             if line.startswith("zonetally_publisher_last_sequence{")]
    zh.check_eq(len(shown), 1000, "publishers shown (the bound)")
    d.stop()
    print(f"{N_SMALL + 1} publishers: the busy one with a gap is among the 1,000 shown")


if __name__ == "__main__":
    zh.main(test, "test_metrics_publishers")
    sys.exit(1)
