#!/usr/bin/env python3
"""`sockdoctor serve --db` records history on its own schedule (private netns): serve samples
every second into a temporary database while a client ("sd-servleak") leaks CLOSE_WAIT sockets
and nobody scrapes for most of the time; a few scrapes meanwhile share the sampling thread.
Then serve is killed with SIGKILL: the database must pass `PRAGMA integrity_check`, and
`sockdoctor history` must name the holder with a positive growth. An explicit --db that cannot
be opened is an error at start, not a silent exporter without history."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "check"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import servekit  # noqa: E402
from history_leak_test import LEAKER, Server  # noqa: E402
from holders import Holder  # noqa: E402

NAME = "sd-servleak"
GAP = 0.5      # one leaked connection every GAP seconds
LEAK_S = 16    # the leaker leaks this long
QUIET_S = 3    # recorded before the leak
MIN_INTERVALS = 12  # of the ~21 s serve runs, at one record a second


def recorded_intervals(sd: str, db: str) -> int:
    """Intervals in the database so far, read beside the running writer (WAL allows it)."""
    r = harness.run_sockdoctor(sd, "history", "--db", db, "--json", "--since", "10m", timeout=60)
    try:
        return len(json.loads(r.out)["series"]["time"]) if r.rc == 0 else 0
    except (ValueError, KeyError):
        return 0


def integrity(db: str) -> str:
    r = subprocess.run(["sqlite3", db, "PRAGMA integrity_check"], capture_output=True, timeout=60)
    return r.stdout.decode(errors="replace").strip() + r.stderr.decode(errors="replace").strip()


def body(args, checks):
    sd = args.sockdoctor
    if shutil.which("sqlite3") is None:
        harness.skip("the sqlite3 shell is not installed (scripts/setup.sh installs it)")
    tmp = tempfile.mkdtemp(prefix="sd-serve-history-")
    db = os.path.join(tmp, "history.db")

    with open(os.path.join(tmp, "a-file"), "w"):
        pass  # a directory that cannot exist, whatever open() creates
    bad = subprocess.run([sd, "--register", "off", "serve", "--listen", "127.0.0.1:0", "--db",
                          os.path.join(tmp, "a-file", "h.db")],
                         stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    checks.check(bad.returncode != 0 and b"h.db" in bad.stderr,
                 "an explicit --db that cannot be opened stops serve with a message",
                 f"rc {bad.returncode}: {bad.stderr[-500:]!r}")

    server = Server()
    leaker = None
    exporter = servekit.Exporter(sd, "--db", db, "--interval", "1")
    try:
        checks.check(any("recording history every 1s" in line for line in exporter.stderr_lines),
                     "serve says it records history", str(exporter.stderr_lines))
        time.sleep(QUIET_S)
        leaker = Holder(NAME, LEAKER, {"port": server.port, "gap": GAP, "seconds": LEAK_S})
        for _ in range(3):  # scrapes share the sampling thread with the records
            status, _, text = servekit.get(exporter.url())
            checks.equal(status, 200, "a scrape during recording answers 200")
            time.sleep(2)
        time.sleep(LEAK_S - 6 + 2)
        # On a loaded box a sample can take longer than the interval: wait (bounded) until the
        # recorder has written the intervals the checks below want, instead of trusting the clock.
        deadline = time.monotonic() + 90
        while recorded_intervals(sd, db) < MIN_INTERVALS and time.monotonic() < deadline:
            time.sleep(2)
        exporter.proc.kill()  # SIGKILL by PID, possibly mid-transaction
        exporter.proc.wait(timeout=30)
    finally:
        exporter.stop()
        if leaker is not None:
            leaker.stop()
        server.stop = True

    checks.equal(integrity(db), "ok", "PRAGMA integrity_check after kill -9 of serve")

    r = harness.run_sockdoctor(sd, "history", "--db", db, "--json", "--since", "10m", timeout=120)
    checks.equal(r.rc, 0, "history --json exits 0")
    doc = json.loads(r.out)
    times = doc["series"]["time"]
    checks.check(len(times) >= MIN_INTERVALS, "serve recorded about one interval a second without being "
                 "scraped", f"{len(times)} intervals")
    holders = [h for h in doc["holders"] if h["name"] == NAME]
    if checks.equal(len(holders), 1, f"history names the holder {NAME}"):
        h = holders[0]
        checks.check(h["growth_per_hour"] > 0, "with a positive growth per hour",
                     str(h["growth_per_hour"]))
        checks.check(h["peak_close_wait"] >= 0.5 * LEAK_S / GAP, "peak count of the right order",
                     str(h["peak_close_wait"]))
        want = 3600 / GAP
        checks.check(0.3 * want <= h["growth_per_hour"] <= 2 * want,
                     f"growth of the right order (truth {want:.0f}/h)", str(h["growth_per_hour"]))
    else:
        print(r.out.decode()[:3000])
    checks.equal(len(doc["recorder"]["runs"]), 1, "one run: note_start once at start")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    harness.main_wrapper("serve_history", body)
