#!/usr/bin/env python3
"""`sockdoctor history` on a real, growing CLOSE_WAIT leak recorded live (private netns): a client
("sd-histleak") opens a connection every GAP seconds that the server closes at once and the
client never closes. The recorder (`history record`, the writer serve uses) samples every
INTERVAL seconds. Half-way the leaker is replaced by a new process of the same name that leaks
again. `history` must name the holder, put the onset of the current rise within one interval of
the truth, give a growth per hour of the right order, see the pid change, answer while the
writer writes, filter with --holder and write a well-formed SVG."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "check"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from holders import Holder  # noqa: E402

INTERVAL = 1.0
GAP = 0.5        # one leaked connection every GAP seconds: 7200 per hour
LEAK_S = 14      # each leaker leaks this long
QUIET_S = 6      # recorded before the first leak, and between the two leakers
NAME = "sd-histleak"

LEAKER = r'''
socks = []
ready()
end = time.monotonic() + ARGS["seconds"]
while time.monotonic() < end and len(socks) < 200:
    socks.append(socket.create_connection(("127.0.0.1", ARGS["port"])))
    time.sleep(ARGS["gap"])
hold()  # never read, never closed: each stays in CLOSE_WAIT after the server's close
'''


class Server:
    """Accepts and closes at once, remembering when (Unix time) each connection was closed."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.closed_at = []
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            c.close()
            self.closed_at.append(time.time())

    def first_close_after(self, t):
        return next((x for x in self.closed_at if x >= t), None)


def history(sd, db, *args):
    return harness.run_sockdoctor(sd, "history", "--db", db, *args, timeout=120)


def leak_phase(server, checks):
    started = time.time()
    leaker = Holder(NAME, LEAKER, {"port": server.port, "gap": GAP, "seconds": LEAK_S})
    time.sleep(LEAK_S + 1)
    return leaker, server.first_close_after(started)


def body(args, checks):
    sd = args.sockdoctor
    tmp = tempfile.mkdtemp(prefix="sd-history-")
    db = os.path.join(tmp, "history.db")
    server = Server()
    # Until SIGTERM: on a slow machine (sanitizers, a loaded box) a sample may take longer than
    # the interval, and the test must still end in bounded time.
    rec = subprocess.Popen([sd, "history", "--db", db, "record", "--interval", str(INTERVAL)],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    try:
        time.sleep(QUIET_S)
        first, onset1 = leak_phase(server, checks)
        # Reading while the writer writes: every answer is a complete document.
        for _ in range(3):
            r = history(sd, db, "--json")
            ok = r.rc == 0 and json.loads(r.out)["history"]
            checks.check(ok, "history answers while the recorder writes", r.describe())
        first.stop()  # its sockets close with it: the count falls back to 0
        time.sleep(QUIET_S)
        second, onset2 = leak_phase(server, checks)
        time.sleep(2 * INTERVAL)
        rec.send_signal(signal.SIGTERM)  # by PID
        out, err = rec.communicate(timeout=120)
        checks.equal(rec.returncode, 0, "the recorder stopped at SIGTERM and exited 0")
        if rec.returncode != 0:
            print(err.decode(errors="replace"))
        second.stop()
    finally:
        if rec.poll() is None:
            rec.kill()  # by PID
            rec.wait()
        server.stop = True

    r = history(sd, db, "--json", "--since", "10m")
    checks.equal(r.rc, 0, "history --json exits 0")
    doc = json.loads(r.out)
    holders = [h for h in doc["holders"] if h["name"] == NAME]
    if not checks.equal(len(holders), 1, f"one holder named {NAME}"):
        print(r.out.decode()[:3000])
        return
    h = holders[0]
    checks.check(h["rising"], "it is rising", str(h))
    checks.equal(h["pids"], [second.pid], "its pid now is the second leaker's")
    checks.equal([(x["before"], x["after"]) for x in h["restarts"]], [([first.pid], [second.pid])],
                 "the pid change is seen")
    # The onset is the first interval that saw the rise: the truth lies between the interval
    # before it and it (0.5 s of slack: an interval's time is when its sample began).
    times = doc["series"]["time"]
    at = times.index(h["onset"]) if h["onset"] in times else 0
    before = times[at - 1] if at > 0 else None
    checks.check(before is not None and before - 0.5 <= onset2 <= h["onset"] + 0.5,
                 "onset of the current rise within one interval of the second leaker's first "
                 "CLOSE_WAIT", f"interval before {before}, onset {h['onset']}, truth {onset2} "
                 f"(first leak {onset1})")
    checks.check(h["onset"] - onset2 <= 6 * INTERVAL, "and within seconds of the truth",
                 f"onset {h['onset']}, truth {onset2}")
    want = 3600 / GAP
    checks.check(0.5 * want <= h["growth_per_hour"] <= 1.5 * want,
                 f"growth per hour of the right order (truth {want:.0f})",
                 f"got {h['growth_per_hour']}")
    checks.check(h["peak_close_wait"] >= 0.7 * LEAK_S / GAP, "peak count of the right order",
                 str(h["peak_close_wait"]))
    checks.check(len(times) >= 10, "intervals were recorded throughout", str(len(times)))

    r = history(sd, db, "--holder", NAME, "--json", "--svg", os.path.join(tmp, "c.svg"))
    doc = json.loads(r.out)
    checks.equal([x["name"] for x in doc["holders"]], [NAME], "--holder keeps only that holder")
    try:
        root = ET.parse(os.path.join(tmp, "c.svg")).getroot()
        checks.equal(root.tag, "{http://www.w3.org/2000/svg}svg", "--svg writes a well-formed SVG")
        checks.check(any(NAME in (e.text or "") for e in root.iter()), "titled with the holder")
    except (ET.ParseError, OSError) as e:
        checks.check(False, "--svg writes a well-formed SVG", str(e))

    r = harness.run_sockdoctor(sd, "history", "--db", db, "--width", "100", timeout=120)
    text = r.text()
    checks.check(r.rc == 0 and NAME in text and "RISING SINCE" in text and
                 f"pid {first.pid} -> {second.pid}" in text, "the text names the holder, its "
                 "onset and its pid change", text)
    print(text)
    for f in os.listdir(tmp):
        os.unlink(os.path.join(tmp, f))
    os.rmdir(tmp)


if __name__ == "__main__":
    harness.main_wrapper("history_leak", body)
