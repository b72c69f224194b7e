#!/usr/bin/env python3
"""The history database survives its writer being killed. `kill -9` at random moments of
tests/history_hammer (store::HistoryWriter writing synthetic intervals back to back, so nearly
every kill lands inside a transaction) and of the real recorder (`history record`, sampling this
namespace), several times each, leaves a database that `sqlite3 PRAGMA integrity_check` calls
ok, that `history` still reads (each start a run, each later one a restart), with no row of a
half-written interval, and readers answer throughout. Plus the clear errors: a missing file, a
file that is not SQLite, another program's SQLite database and a newer schema exit 3; an empty
database says there is no history yet."""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "check"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import tracekit  # noqa: E402
from holders import Holder  # noqa: E402

HAMMER_KILLS = 8
RECORDER_KILLS = 4
HOLDERS = 4  # processes holding CLOSE_WAIT sockets, so that each interval writes several rows

HOLDER = r'''
socks = [socket.create_connection(("127.0.0.1", ARGS["port"])) for _ in range(3)]
ready()
hold()
'''


def sqlite(db, sql):
    r = subprocess.run(["sqlite3", db, sql], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout.strip(), r.stderr.strip()


def history(sd, db, *args):
    return harness.run_sockdoctor(sd, "history", "--db", db, *args, timeout=120)


def wait_for_intervals(db, proc, run, timeout=30):
    """Until this writer (the run-th) has committed its run and an interval of it: the rows of
    the runs before it say nothing of this one (or it died, or the time is up)."""
    deadline = time.monotonic() + timeout
    sql = ("SELECT count(*) FROM runs WHERE (SELECT count(*) FROM runs) = %d"
           " AND id = (SELECT max(id) FROM runs)"
           " AND EXISTS (SELECT 1 FROM intervals WHERE intervals.run = runs.id)" % run)
    while time.monotonic() < deadline and proc.poll() is None:
        if os.path.exists(db) and sqlite(db, sql)[1] == "1":
            return True
        time.sleep(0.05)
    return False


def kill_writer(sd, db, argv, run, rng, checks, since="all"):
    """Starts a writer, reads while it writes, kills it with SIGKILL at a random moment, and
    checks what it left. The hammer writes hundreds of intervals a second: its readers look at
    the last seconds only (`since`), so that reads stay quick."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    what = f"{os.path.basename(argv[0])} run {run}"
    try:
        checks.check(wait_for_intervals(db, proc, run),
                     f"{what}: committed its run and an interval of it before the kill")
        deadline = time.monotonic() + 0.2 + rng.random()
        reads_ok, reads = True, 0
        while time.monotonic() < deadline:
            r = history(sd, db, "--json", "--since", since)
            reads_ok &= r.rc == 0 and r.out.startswith(b"{")
            reads += 1
        checks.check(reads_ok, f"{what}: history answered {reads} times while it wrote")
        os.kill(proc.pid, signal.SIGKILL)  # by PID
    finally:
        if proc.poll() is None:
            proc.kill()
        err = proc.communicate()[1]
    if not checks.equal(proc.returncode, -signal.SIGKILL, f"{what}: died of SIGKILL"):
        print(err.decode(errors="replace"))
    checks.check(os.path.exists(db + "-wal"), f"{what}: left its WAL for the next opener")
    rc, out, err = sqlite(db, "PRAGMA integrity_check")
    checks.equal((rc, out), (0, "ok"), f"{what}: integrity_check ok after kill -9")
    r = history(sd, db, "--json", "--since", since)
    doc = json.loads(r.out) if r.rc == 0 else {}
    checks.check(r.rc == 0 and doc["history"], f"{what}: history reads it", r.describe())
    checks.equal(sqlite(db, "SELECT count(*) FROM runs")[1], str(run), f"{what}: {run} runs")
    if since == "all":
        checks.check(len(doc["recorder"]["runs"]) == run and doc["recorder"]["restarts"] == run - 1,
                     f"{what}: history sees {run - 1} restarts", r.describe())
    rc, out, _ = sqlite(db, "SELECT count(*) FROM holders WHERE interval NOT IN "
                            "(SELECT id FROM intervals)")
    checks.equal(out, "0", f"{what}: no holder row without its interval")


def crash_loops(sd, tmp, checks):
    rng = random.Random(13)
    db = os.path.join(tmp, "hammered.db")
    hammer = tracekit.tool(sd, "history_hammer")
    for i in range(HAMMER_KILLS):
        kill_writer(sd, db, [hammer, db, "30"], i + 1, rng, checks, since="3s")
    print(f"{sqlite(db, 'SELECT count(*) FROM intervals')[1]} intervals survive "
          f"{HAMMER_KILLS} kills of history_hammer")
    db = os.path.join(tmp, "recorded.db")
    for i in range(RECORDER_KILLS):
        argv = [sd, "history", "--db", db, "record", "--interval", "0.01", "--no-owners"]
        kill_writer(sd, db, argv, i + 1, rng, checks)
    print(f"{sqlite(db, 'SELECT count(*) FROM intervals')[1]} intervals survive "
          f"{RECORDER_KILLS} kills of the recorder")
    r = history(sd, db, "--since", "all")
    checks.check(r.rc == 0 and "restarted" in r.text(), "the text names the restarts", r.text())


def errors(sd, tmp, checks):
    missing = os.path.join(tmp, "missing.db")
    r = history(sd, missing)
    checks.check(r.rc == 3 and b"missing.db: No such file or directory" in r.err,
                 "a missing database: exit 3, says so", r.describe())
    text = os.path.join(tmp, "notes.txt")
    with open(text, "w") as f:
        f.write("not a database\n" * 20)
    r = history(sd, text)
    checks.check(r.rc == 3 and b"not a sockdoctor history database (not a SQLite file)" in r.err,
                 "a text file: exit 3, not a sockdoctor history database", r.describe())
    other = os.path.join(tmp, "other.db")
    sqlite(other, "CREATE TABLE t(x); INSERT INTO t VALUES(1)")
    r = history(sd, other)
    checks.check(r.rc == 3 and b"not a sockdoctor history database (a SQLite database" in r.err,
                 "another SQLite database: exit 3", r.describe())
    r = harness.run_sockdoctor(sd, "history", "--db", other, "record", "--count", "1")
    checks.check(r.rc == 3 and sqlite(other, "SELECT count(*) FROM t")[1] == "1",
                 "the recorder refuses to write into it and leaves it alone", r.describe())
    empty = os.path.join(tmp, "empty.db")
    r = harness.run_sockdoctor(sd, "history", "--db", empty, "record", "--count", "0")
    r = history(sd, empty)
    checks.check(r.rc == 0 and r.text().startswith("No history yet in"),
                 "an empty database: no history yet, exit 0", r.describe())
    newer = os.path.join(tmp, "newer.db")
    shutil.copy(empty, newer)
    sqlite(newer, "PRAGMA user_version=99")
    r = history(sd, newer)
    checks.check(r.rc == 3 and b"schema version 99, newer than this sockdoctor reads" in r.err,
                 "a newer schema: exit 3, says upgrade", r.describe())


def body(args, checks):
    if shutil.which("sqlite3") is None:
        harness.skip("the sqlite3 shell is not installed (scripts/setup.sh installs it)")
    sd = args.sockdoctor
    tmp = tempfile.mkdtemp(prefix="sd-history-crash-")
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    holders = []
    try:
        for i in range(HOLDERS):
            holders.append(Holder(f"sd-crash{i}", HOLDER, {"port": srv.getsockname()[1]}))
        for _ in range(3 * HOLDERS):
            srv.accept()[0].close()  # their sockets go to CLOSE_WAIT
        crash_loops(sd, tmp, checks)
        errors(sd, tmp, checks)
    finally:
        for h in holders:
            h.stop()
        srv.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    harness.main_wrapper("history_crash", body)
