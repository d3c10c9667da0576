#!/usr/bin/python3
"""test_dedup_window: the dedup window is an admission rule, and pruning bounds the store.

The window is 2 days, measured back from the newest accepted event time (an event-time
watermark: the test's "clock" is the event times it sends, so a month passes in seconds).
Thirty consecutive days of events are sent in order through the acknowledged path. Then:
the dedup records stay within the window (pruned in small steps inside normal commits), the
store stops growing once the load runs past the window, an event older than the window is
rejected as too old, and a resend of the first day's events (whose dedup records were pruned)
is rejected as too old too, never counted twice.
"""

import json
import os
import sys
import time

import ztharness as zh
import ztreliable

DAYS = 30
PER_DAY = 3000
WINDOW_DAYS = 2
DAY_MS = 86400000
ZONE = 330100


def day_events(day0_ms, day, seq0):
    """PER_DAY declarations spread over one CST day, as NDJSON lines."""
    lines = []
    for i in range(PER_DAY):
        ms = day0_ms + day * DAY_MS + i * (DAY_MS // PER_DAY)
        lines.append(json.dumps({
            "event_id": f"{ms:012x}{day:010x}{i:010x}", "zone_code": ZONE,
            "direction": "EXPORT", "mode": "9610", "value_fen": 100, "item_count": 1,
            "declared_at_ms": ms, "sequence": seq0 + i}))
    return lines


def send(bins, d, state, name, lines):
    """Sends lines through zonetally-pub --reliable; exit 0 means all committed."""
    path = os.path.join(state, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    ztreliable.send(bins, d.ingest_endpoint, path, "window")


def test(bins, state):
    """A month of event time through a 2-day window."""
    conf = os.path.join(state, "window.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(f"[validation]\ndedup_window_days = {WINDOW_DAYS}\n")
    d = zh.Daemon(bins, state, ["-c", conf]).start()
    cli = zh.Cli(bins, state)
    today = int(time.time() * 1000) // DAY_MS * DAY_MS
    day0 = today - (DAYS + 2) * DAY_MS - zh.CST_OFFSET_MS
    seq, used, records = 1, [], []
    first_day = day_events(day0, 0, 1)
    for day in range(DAYS):
        lines = day_events(day0, day, seq)
        seq += PER_DAY
        send(bins, d, state, f"day{day}.ndjson", lines)
        if day % 10 == 9:
            s = cli.stats()
            used.append(s["store"]["used_bytes"])
            records.append(s["dedup_records"])
    s = cli.stats()
    zh.check_eq(s["accepted"], DAYS * PER_DAY, "every event of the month accepted")
    # the window plus the day in progress, plus at most one commit's lag of pruning
    bound = (WINDOW_DAYS + 2) * PER_DAY
    zh.check(max(records) <= bound, "dedup records stay within the window", records, bound)
    one_day = PER_DAY * 100  # bytes: far less than a day of dedup records and their index
    zh.check(used[2] - used[1] < one_day, "store stopped growing past the window", used)

    # too old: before the watermark minus the window
    old = json.loads(first_day[0])
    old.update({"event_id": "ff" * 16, "sequence": seq})
    send(bins, d, state, "old.ndjson", [json.dumps(old)])
    # the first day again, with new sequences: pruned ids, still never counted twice
    resend = [json.loads(x) for x in first_day]
    for i, ev in enumerate(resend):
        ev["sequence"] = seq + 1 + i
    send(bins, d, state, "resend.ndjson", [json.dumps(ev) for ev in resend])
    s = cli.stats()
    zh.check_eq(s["by_reason"]["too_old"], 1 + PER_DAY, "too_old: the old event and the resend")
    zh.check_eq(s["accepted"], DAYS * PER_DAY, "nothing counted twice")
    got = cli.json("get", str(ZONE), "--all")
    zh.check_eq(got["total"]["events"], DAYS * PER_DAY, "all-time events of the zone")
    print(f"dedup window {WINDOW_DAYS} days: dedup records {records} after days 10/20/30, "
          f"store used bytes {used}")
    d.stop()


if __name__ == "__main__":
    zh.main(test, "test_dedup_window")
    sys.exit(1)
