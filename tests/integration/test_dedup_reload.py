#!/usr/bin/python3
"""test_dedup_reload: a reload of dedup_window_days never lets an event count twice.

The real daemon counts 1,000 events of one CST day ten days back (event time) and one of
five days back (the watermark) with a 35-day window. `zonetally reload` narrows the window
to 2 days; one more event makes a commit, and that commit prunes the day's dedup records
(its day is now before the cutoff). A second reload restores 35 days, and the day's 1,000
events are resent: their records are gone, so the store cannot tell them from new ones,
and the dedup horizon it recorded while pruning rejects them as too_old. The day's totals
stay exactly 1,000 (before the horizon existed they became 2,000: issue 13, hole 1).
"""

import json
import os
import sys
import time

import ztharness as zh
import ztreliable

PER_DAY = 1000
DAY_MS = 86400000
ZONE = 330100


def event(ms, tag, i, seq):
    """One export declaration as an NDJSON line."""
    return json.dumps({
        "event_id": f"{ms:012x}{tag:010x}{i:010x}", "zone_code": ZONE, "direction": "EXPORT",
        "mode": "9610", "value_fen": 100, "item_count": 1, "declared_at_ms": ms,
        "sequence": seq})


def send(bins, d, state, name, lines):
    """Sends lines through zonetally-pub --reliable; exit 0 means all committed."""
    path = os.path.join(state, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    ztreliable.send(bins, d.ingest_endpoint, path, "reload")


def set_window(bins, state, conf, days):
    """Rewrites the configuration with a new window and reloads it."""
    with open(conf, "w", encoding="utf-8") as f:
        f.write(f"[validation]\ndedup_window_days = {days}\n")
    rc, out, err = zh.run([bins.cli, "--state-dir", state, "reload", "--timeout", "30"])
    zh.check_eq(rc, 0, f"reload to a {days}-day window: {out}{err}")


def day_view(cli, ms):
    """`get --json` of the zone for the CST day of ms."""
    day = zh.cst_buckets(ms)[0][1]
    return cli.json("get", str(ZONE), "--day", day)["total"]


def test(bins, state):
    """Narrow the window for one commit, restore it, resend a day: counted once."""
    conf = os.path.join(state, "window.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write("[validation]\ndedup_window_days = 35\n")
    d = zh.Daemon(bins, state, ["-c", conf]).start()
    cli = zh.Cli(bins, state)
    today = int(time.time() * 1000) // DAY_MS * DAY_MS - zh.CST_OFFSET_MS
    day0 = today - 10 * DAY_MS
    old = [event(day0 + i * (DAY_MS // PER_DAY), 1, i, 1 + i) for i in range(PER_DAY)]
    seq = PER_DAY + 1
    send(bins, d, state, "day.ndjson", old + [event(today - 5 * DAY_MS, 2, 0, seq)])
    zh.check_eq(day_view(cli, day0)["events"], PER_DAY, "the day counted")

    set_window(bins, state, conf, 2)
    for n in range(20):  # one commit prunes up to 2,000 records: one poke is enough
        seq += 1
        send(bins, d, state, "poke.ndjson", [event(today - 5 * DAY_MS, 3, n, seq)])
        if cli.stats()["dedup_records"] < PER_DAY:
            break
    zh.check(cli.stats()["dedup_records"] < PER_DAY, "the narrow window pruned the day",
             cli.stats()["dedup_records"])

    set_window(bins, state, conf, 35)
    too_old0 = cli.stats()["by_reason"].get("too_old", 0)
    resend = [json.loads(x) for x in old]
    for ev in resend:
        seq += 1
        ev["sequence"] = seq
    send(bins, d, state, "resend.ndjson", [json.dumps(ev) for ev in resend])
    s = cli.stats()
    zh.check_eq(day_view(cli, day0)["events"], PER_DAY, "the day's events after the resend")
    zh.check_eq(s["by_reason"].get("too_old", 0) - too_old0, PER_DAY,
                "the resend rejected as too_old")
    zh.check_eq(s["balanced"], True, "received == accepted + duplicates + rejected")
    print(f"{PER_DAY} events of one day, window 35 -> 2 -> 35 days, resent: still "
          f"{day_view(cli, day0)['events']}, {PER_DAY} too_old")
    d.stop()


if __name__ == "__main__":
    zh.main(test, "test_dedup_reload")
    sys.exit(1)
