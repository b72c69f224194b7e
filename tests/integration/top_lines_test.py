#!/usr/bin/env python3
"""`sockdoctor top` line mode against a private namespace with a growing CLOSE_WAIT leak:
--lines --count 3 prints exactly 3 timestamped lines with state counts, --json --count 3 prints
3 JSON objects with the documented fields, and a pipe (not a terminal) gets line mode by itself."""

from __future__ import annotations

import datetime
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from top_tmux_test import LEAKER_NAME, Leaker  # noqa: E402

LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d) total=(\d+)((?: [a-z_0-9]+=~?\d+)*)"
                  r" \| changed: ([^|]+?)(?: \| .*)?$")
JSON_FIELDS = ["schema_version", "time", "sample", "interval_s", "total", "states", "listed_states",
               "changed", "appeared", "departed", "close_wait", "holders", "peers", "time_wait",
               "destinations", "findings", "detail_age_s", "owners_age_s", "owners_denied", "filter"]
STATES = ["listen", "syn_sent", "syn_recv", "established", "fin_wait1", "fin_wait2", "time_wait",
          "close_wait", "last_ack", "closing"]


def parse_time(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


def check_lines(args, c: harness.Checks) -> None:
    started = time.monotonic()
    r = harness.run_sockdoctor(args.sockdoctor, "top", "--lines", "--count", "3", "-d", "0.5")
    took = time.monotonic() - started
    if not c.equal(r.rc, 0, "top --lines exits 0"):
        print(r.describe())
        return
    lines = r.text().splitlines()
    c.equal(len(lines), 3, "--count 3 prints exactly 3 lines")
    parsed = [LINE.match(line) for line in lines]
    c.check(all(parsed), "each line: timestamp, total=N, state=N..., | changed: ...", r.text())
    if not all(parsed):
        return
    times = [parse_time(m.group(1)) for m in parsed]
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
    # top keeps a fixed rate, so one late sample (a preempted process on a loaded box) makes one
    # gap long and the next short: single gaps say little. It must rest between samples (3 lines
    # take at least 2 intervals) and keep going; the stamps must not run backwards.
    c.check(took >= 1.0, f"3 lines at -d 0.5 take at least 1 s ({took:.2f} s)")
    c.check(all(0.0 < g <= 10.0 for g in gaps), f"one line per 0.5 s interval (gaps {gaps})")
    for m in parsed:
        counts = dict(kv.split("=") for kv in m.group(3).split())
        cw = int(counts.get("close_wait", "0").lstrip("~"))
        total = int(m.group(2))
        c.check(cw > 0 and total >= cw and "listen" in counts,
                f"counts present (close_wait={cw}, total={total}, listen={counts.get('listen')})",
                m.group(0))
        c.check(sum(int(v.lstrip("~")) for v in counts.values()) == total,
                "the state counts add up to the total", m.group(0))
    c.equal(parsed[0].group(4), "first sample", "the first line says it is the first sample")
    c.check(any("close_wait +" in m.group(4) for m in parsed[1:]),
            "a later line reports the growing CLOSE_WAIT count", r.text())


def check_json(args, c: harness.Checks, leaker_pid: int) -> None:
    r = harness.run_sockdoctor(args.sockdoctor, "top", "--json", "--count", "3", "-d", "0.5")
    if not c.equal(r.rc, 0, "top --json exits 0"):
        print(r.describe())
        return
    lines = r.text().splitlines()
    c.equal(len(lines), 3, "--json --count 3 prints 3 lines")
    docs = []
    for line in lines:
        try:
            docs.append(json.loads(line))
        except json.JSONDecodeError as e:
            c.check(False, "every line is a JSON object", f"{e}: {line[:300]}")
            return
    c.check(all(isinstance(d, dict) for d in docs), "every line is a JSON object")
    for d in docs:
        missing = [k for k in JSON_FIELDS if k not in d]
        c.check(not missing, f"sample {d.get('sample')}: documented fields present", f"missing {missing}")
        c.equal(sorted(d.get("states", {})), sorted(STATES), f"sample {d.get('sample')}: every state")
    c.equal([d.get("sample") for d in docs], [1, 2, 3], "samples are numbered 1, 2, 3")
    last = docs[-1]
    c.check(last["states"]["close_wait"] > 0, "close_wait counted", str(last["states"]))
    c.equal(last["total"], sum(last["states"].values()), "total is the sum of the states")
    holders = {h["pid"]: h for h in last["holders"]}
    h = holders.get(leaker_pid)
    if c.check(h is not None, f"the leaker (pid {leaker_pid}) is a holder", str(last["holders"])):
        c.equal(h["comm"], LEAKER_NAME, "holder comm")
        c.check(h["close_wait"] > 0 and h["trend"] is not None and "trend" in h["trend"],
                "holder has a CLOSE_WAIT count and a trend object", str(h))
    cw = last["close_wait"]
    c.check(set(cw) >= {"count", "growth_per_min", "arrivals_per_min", "departures_per_min",
                        "retained", "window_s", "trend"}, "close_wait trend fields", str(cw))


def check_pipe_defaults_to_lines(args, c: harness.Checks) -> None:
    # stdout is a pipe here: no --lines needed, and nothing but lines may come out.
    r = harness.run_sockdoctor(args.sockdoctor, "top", "--count", "2", "-d", "0.2")
    lines = r.text().splitlines()
    c.check(r.rc == 0 and len(lines) == 2 and all(LINE.match(x) for x in lines),
            "stdout not a terminal: line mode without --lines", r.describe())
    c.check(b"\x1b" not in r.out, "no escape sequences in line mode")


def body(args, c: harness.Checks) -> None:
    with Leaker(every=0.3, limit=200, life=60) as leak:
        time.sleep(1.0)
        check_lines(args, c)
        check_json(args, c, leak.leaker.pid)
        check_pipe_defaults_to_lines(args, c)
        r = harness.run_sockdoctor(args.sockdoctor, "top", "--lines", "-d", "0.01", "--count", "1")
        c.equal(r.rc, 64, "-d below 0.1 s is a usage error")


if __name__ == "__main__":
    harness.main_wrapper("top_lines", body)
