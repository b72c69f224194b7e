#!/usr/bin/env python3
"""`sockdoctor top` on a real terminal: run it in tmux (120x40) against a private namespace where a
process named sd-leaker piles up CLOSE_WAIT sockets, read the screen with capture-pane, and check
that the count grows, the leaker is named and called a leak, and that q, SIGTERM and a crash
(SIGSEGV) all give the terminal back (main screen, cooked mode, cursor visible)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

LEAK_PORT = 18080
LEAKER_NAME = "sd-leaker"

# A server that closes every connection at once, and a client (renamed sd-leaker) that keeps its
# end: each connection leaves one CLOSE_WAIT socket in the client. Both stop by themselves.
_SERVER = r"""
import os, socket, sys, time
port, life = int(sys.argv[1]), float(sys.argv[2])
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", port))
l.listen(128)
l.settimeout(0.5)
os.write(1, b"ready\n")
end = time.monotonic() + life
while time.monotonic() < end:
    try:
        c, _ = l.accept()
    except socket.timeout:
        continue
    c.close()
"""

_LEAKER = r"""
import ctypes, socket, sys, time
ctypes.CDLL(None).prctl(15, ctypes.c_char_p(sys.argv[5].encode()), 0, 0, 0)
port, every, limit, life = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
held = []
end = time.monotonic() + life
while time.monotonic() < end:
    if len(held) < limit:
        held.append(socket.create_connection(("127.0.0.1", port)))
    time.sleep(every)
"""


class Leaker:
    """Server + leaking client in this (private) namespace; stopped by PID on exit."""

    def __init__(self, every: float = 0.3, limit: int = 300, life: float = 90.0,
                 port: int = LEAK_PORT):
        self.every, self.limit, self.life, self.port = every, limit, life, port
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> "Leaker":
        server = subprocess.Popen([sys.executable, "-c", _SERVER, str(self.port), str(self.life)],
                                  stdout=subprocess.PIPE)
        self.procs.append(server)
        if server.stdout.readline().strip() != b"ready":
            raise harness.FarmError("the CLOSE_WAIT server did not start")
        self.leaker = subprocess.Popen(
            [sys.executable, "-c", _LEAKER, str(self.port), str(self.every), str(self.limit),
             str(self.life), LEAKER_NAME])
        self.procs.append(self.leaker)
        return self

    def __exit__(self, *exc) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.kill()
            p.wait()

    def close_wait_count(self) -> int:
        return sum(1 for s in harness.run_ss() if s.state == "close_wait")


class Tmux:
    """A tmux server of our own (private socket), one session; killed by its session name."""

    def __init__(self, cols: int = 120, rows: int = 40):
        self.sock = f"sd-top-{os.getpid()}"
        self.name = f"sdtop{os.getpid()}"
        self.cols, self.rows = cols, rows
        self.runs = 0

    def tmux(self, *args: str, check: bool = True) -> str:
        r = subprocess.run(["tmux", "-u", "-L", self.sock, "-f", "/dev/null", *args],
                           capture_output=True, text=True, timeout=20)
        if check and r.returncode != 0:
            raise harness.FarmError(f"tmux {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def __enter__(self) -> "Tmux":
        env = ["-e", "LANG=C.UTF-8", "-e", "NO_COLOR="]
        self.tmux("new-session", "-d", "-s", self.name, "-x", str(self.cols), "-y", str(self.rows),
                  *env, "sh")
        return self

    def __exit__(self, *exc) -> None:
        self.tmux("kill-session", "-t", self.name, check=False)

    def type_line(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.name, "-l", text)
        self.tmux("send-keys", "-t", self.name, "Enter")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def fmt(self, what: str) -> str:
        return self.tmux("display-message", "-p", "-t", self.name, what).strip()

    def wait_for(self, pattern: str, timeout: float) -> re.Match | None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(pattern, self.screen(), re.M)
            if m:
                return m
            time.sleep(0.2)
        return None


def child_pid(parent: int, comm: str, timeout: float = 10.0) -> int | None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for tid in os.listdir(f"/proc/{parent}/task"):
            try:
                with open(f"/proc/{parent}/task/{tid}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                continue
            for k in kids:
                try:
                    with open(f"/proc/{k}/comm") as f:
                        if f.read().strip() == comm:
                            return k
                except OSError:
                    continue
        time.sleep(0.1)
    return None


def close_wait_on_screen(screen: str) -> int | None:
    m = re.search(r"^CLOSE-WAIT\s+~?(\d+)\s", screen, re.M)
    return int(m.group(1)) if m else None


def check_restored(t: Tmux, c: harness.Checks, how: str, want_exit: int) -> None:
    m = t.wait_for(rf"SD-EXIT-{t.runs}=(\d+)", 15)
    if not c.check(m is not None, f"{how}: sockdoctor top exited", t.screen()):
        return
    if not c.equal(int(m.group(1)), want_exit, f"{how}: exit status"):
        print(t.screen())
    c.equal(t.fmt("#{alternate_on}"), "0", f"{how}: alternate screen left")
    c.equal(t.fmt("#{cursor_flag}"), "1", f"{how}: cursor visible again")
    m = t.wait_for(rf"^STTY-{t.runs}:(.*)$", 5)
    modes = m.group(1).split() if m else []
    c.check("icanon" in modes and "echo" in modes and "isig" in modes,
            f"{how}: terminal back in cooked mode (icanon echo isig)", " ".join(modes))


def start_top(t: Tmux, sd: str, *args: str) -> int | None:
    t.runs += 1  # markers of earlier runs stay on the screen
    t.type_line(" ".join([sd, "top", *args]) +
                f"; echo SD-EXIT-{t.runs}=$?; echo STTY-{t.runs}:$(stty -a | tr ';' ' ' | "
                "tr ' ' '\\n' | grep -x -E -- '-?(icanon|echo|isig)' | tr '\\n' ' ')")
    return child_pid(int(t.fmt("#{pane_pid}")), "sockdoctor")


def redrawn_until(t: "Tmux", good, timeout: float) -> str:
    """The screen once good(screen) holds (top redraws each second, later on a loaded box), or
    the last screen seen when the time is up."""
    end = time.monotonic() + timeout
    while True:
        screen = t.screen()
        if good(screen) or time.monotonic() >= end:
            return screen
        time.sleep(0.2)


def fits_80x24(screen: str) -> bool:
    lines = screen.splitlines()
    return (len(lines) <= 24 and all(len(x) <= 80 for x in lines) and
            any(re.match(r"^CLOSE-WAIT\s+~?\d+", x) for x in lines) and
            not any(re.match(r"^STATE.*\bNEW\b", x) for x in lines))


def body(args, c: harness.Checks) -> None:
    if shutil.which("tmux") is None:
        harness.skip("tmux is not installed (scripts/setup.sh installs it)")
    sd = args.sockdoctor
    with Leaker() as leak, Tmux() as t:
        time.sleep(1.0)  # a few CLOSE_WAIT sockets before the first sample
        pid = start_top(t, sd, "-d", "1")
        c.check(pid is not None, "sockdoctor top started in the tmux pane", t.screen())
        first = t.wait_for(r"^CLOSE-WAIT\s+\d+", 15)
        c.check(first is not None, "the state table shows CLOSE-WAIT", t.screen())
        time.sleep(3.0)
        n1 = close_wait_on_screen(t.screen())
        holder = rf"^\s*{leak.leaker.pid}\s+{LEAKER_NAME}\s+(\d+)\s.*\bleak\s*$"
        s2 = redrawn_until(t, lambda s: (close_wait_on_screen(s) or 0) > (n1 or 0)
                           and re.search(holder, s, re.M) is not None, 20)
        n2 = close_wait_on_screen(s2)
        if args.verbose:
            print(s2)
        c.check(n1 is not None and n2 is not None and n2 > n1,
                f"the CLOSE-WAIT count grows between two captures ({n1} -> {n2})", s2)
        real = leak.close_wait_count()
        c.check(n2 is not None and 0 < n2 <= real,
                f"the count is plausible against ss ({n2} on screen, {real} now)")
        row = re.search(rf"^\s*{leak.leaker.pid}\s+{LEAKER_NAME}\s+(\d+)\s.*$", s2, re.M)
        c.check(row is not None, f"{LEAKER_NAME} (pid {leak.leaker.pid}) is listed as a holder",
                s2)
        if row:
            c.check(re.search(r"\bleak\s*$", row.group(0)) is not None,
                    "its CLOSE_WAIT set is called a leak", row.group(0))
        c.check("TIME_WAIT causes" in s2 and
                any(w in s2 for w in ("findings:", "CRITICAL ", "WARNING ", "INFO ")),
                "sections and the findings bar are drawn", s2)

        t.tmux("resize-window", "-t", t.name, "-x", "80", "-y", "24")
        small = redrawn_until(t, fits_80x24, 10)
        c.check(fits_80x24(small),
                "after a resize to 80x24 the frame is redrawn to fit (no NEW/GONE columns)", small)
        t.tmux("resize-window", "-t", t.name, "-x", str(t.cols), "-y", str(t.rows))

        t.keys("h")
        c.check(t.wait_for(r"this help; any key returns", 5) is not None, "h shows the help")
        t.keys("x")
        t.keys("/")
        t.tmux("send-keys", "-t", t.name, "-l", "state:fin-wait-2")
        t.keys("Enter")
        c.check(t.wait_for(r"filter:state FIN-WAIT-2", 5) is not None,
                "the filter prompt applies a state filter", t.screen())
        t.keys("q")
        check_restored(t, c, "q", 0)

        pid = start_top(t, sd, "-d", "1")
        if c.check(pid is not None and t.wait_for(r"^CLOSE-WAIT\s+\d+", 15) is not None,
                   "top started again"):
            os.kill(pid, signal.SIGTERM)
            check_restored(t, c, "SIGTERM", 128 + signal.SIGTERM)

        pid = start_top(t, sd, "-d", "1")
        if c.check(pid is not None and t.wait_for(r"^CLOSE-WAIT\s+\d+", 15) is not None,
                   "top started a third time"):
            os.kill(pid, signal.SIGSEGV)  # what a crash while rendering looks like
            check_restored(t, c, "SIGSEGV (crash)", 128 + signal.SIGSEGV)


if __name__ == "__main__":
    harness.main_wrapper("top_tmux", body)
