#!/usr/bin/env python3
"""Hostile files (issue 15 section 2): a recorded tree (--proc-root/--sys-root T) or a --replay file
planted with FIFOs, /dev/zero, sysctls the kernel would refuse, corrupt netlink and escape
sequences. Every command must finish promptly, in bounded memory, and say what was wrong with
the text escaped."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

from harness import main_wrapper

RAW = (b"\x1b", "\u202e".encode(), b"\xc2\x9b")
MAX_RSS_KB = 512 * 1024  # far above what any of these needs; /dev/zero would reach it at once


class Outcome:
    def __init__(self, rc, out, err, seconds, rss_kb, timed_out):
        self.rc, self.out, self.err = rc, out, err
        self.seconds, self.rss_kb, self.timed_out = seconds, rss_kb, timed_out

    def describe(self) -> str:
        return (f"exit {self.rc} after {self.seconds:.1f} s, max RSS {self.rss_kb} KiB\n"
                f"stderr: {self.err[:1500]!r}\nstdout: {self.out[:1500]!r}")


def run(sd: str, *args: str, limit: float = 20) -> Outcome:
    """Runs sockdoctor with a time limit and measures its peak RSS (os.wait4)."""
    start = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen([sd, *args], stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        timed_out = False
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid != 0:
                break
            if time.monotonic() - start > limit:
                timed_out = True
                p.kill()
                pid, status, usage = os.wait4(p.pid, 0)
                break
            time.sleep(0.05)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Outcome(p.returncode, out.read(), err.read(), time.monotonic() - start,
                       usage.ru_maxrss, timed_out)


def finishes(t, what: str, r: Outcome, rcs=(0, 1, 2, 3)) -> None:
    t.check(not r.timed_out, f"{what}: finishes (no blocking read)", r.describe())
    t.check(r.rss_kb < MAX_RSS_KB, f"{what}: bounded memory", r.describe())
    t.check(r.rc in rcs, f"{what}: exit status in {rcs}", r.describe())
    raw = [b for b in RAW if b in r.out or b in r.err]
    t.check(not raw, f"{what}: nothing raw reaches the terminal", r.describe())


def tree(base: str, name: str) -> str:
    d = os.path.join(base, name)
    os.makedirs(os.path.join(d, "sys/net/ipv4"))
    os.makedirs(os.path.join(d, "net"))
    shutil.copy("/proc/net/tcp", os.path.join(d, "net/tcp"))
    return d


def first_inode(tcp_path: str) -> int:
    with open(tcp_path) as f:
        rows = f.read().splitlines()[1:]
    return int(rows[0].split()[9])


def holder(d: str, pid: int, inode: int) -> str:
    p = os.path.join(d, str(pid))
    os.makedirs(os.path.join(p, "fd"))
    os.symlink(f"socket:[{inode}]", os.path.join(p, "fd/3"))
    with open(os.path.join(p, "status"), "w") as f:
        f.write("Name:\tx\nUid:\t0\t0\t0\t0\n")
    return p


def fifos_and_devices(sd: str, base: str, t) -> None:
    d = tree(base, "fifo-sysctl")
    os.mkfifo(os.path.join(d, "sys/net/ipv4/tcp_fin_timeout"))
    for cmd in (["explain"], ["check", "--no-owners"]):
        finishes(t, f"FIFO at sys/net/ipv4/tcp_fin_timeout: {cmd[0]}",
                 run(sd, "--proc-root", d, "--sys-root", d, *cmd))

    d = tree(base, "fifo-tcp")
    os.unlink(os.path.join(d, "net/tcp"))
    os.mkfifo(os.path.join(d, "net/tcp"))
    r = run(sd, "--proc-root", d, "--source", "proc", "ls")
    finishes(t, "FIFO at net/tcp: ls --source proc", r, rcs=(3,))
    t.check(b"not a regular file" in r.err, "FIFO at net/tcp: says it is not a regular file", r.describe())

    d = tree(base, "fifo-comm")
    p = holder(d, 4242, first_inode(os.path.join(d, "net/tcp")))
    os.mkfifo(os.path.join(p, "comm"))
    os.symlink("/dev/zero", os.path.join(p, "cmdline"))
    r = run(sd, "--proc-root", d, "--source", "proc", "ls", "--json")
    finishes(t, "FIFO comm, cmdline -> /dev/zero: ls --json", r, rcs=(0,))
    t.check(b'"pid":4242' in r.out, "FIFO comm, cmdline -> /dev/zero: the holder is still listed",
            r.describe())

    for name, make in (("/dev/zero", None), ("a FIFO", os.mkfifo)):
        path = "/dev/zero" if make is None else os.path.join(base, "replay.fifo")
        if make is not None:
            make(path)
        r = run(sd, "--replay", path, "ls")
        finishes(t, f"--replay {name}", r, rcs=(3,))
        t.check(b"not a regular file" in r.err, f"--replay {name}: says it is not a regular file",
                r.describe())


def huge_sysctls(sd: str, base: str, t) -> None:
    d = tree(base, "huge-sysctls")
    for name in ("tcp_fin_timeout", "tcp_keepalive_intvl", "tcp_tw_reuse_delay", "tcp_keepalive_time",
                 "tcp_keepalive_probes", "tcp_orphan_retries", "tcp_retries2", "tcp_rto_max_ms"):
        with open(os.path.join(d, "sys/net/ipv4", name), "w") as f:
            f.write("2147483647\n")
    for cmd in (["explain"], ["explain", "--json"], ["check", "--no-owners"]):
        r = run(sd, "--proc-root", d, "--sys-root", d, *cmd)
        finishes(t, f"sysctls of 2147483647: {' '.join(cmd)}", r, rcs=(0, 1, 2))
        t.check(b"-2147483" not in r.out and b"-4294967" not in r.out,
                f"sysctls of 2147483647: {' '.join(cmd)}: no wrapped negative figure", r.describe())
    r = run(sd, "--proc-root", d, "--sys-root", d, "explain", "--json")
    try:
        doc = json.loads(r.out)
        figures = [f for topic in doc.get("topics", []) for f in topic.get("figures", [])]
        negative = [f for f in figures if f.get("unit") == "s" and (f.get("value") or 0) < 0]
        t.check(not negative, "sysctls of 2147483647: no negative time in explain --json", repr(negative))
    except json.JSONDecodeError as e:
        t.check(False, "sysctls of 2147483647: explain --json is JSON", str(e))


def corrupt_recording(sd: str, base: str, t) -> None:
    rec = os.path.join(base, "rec.bin")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = run(sd, "--record", rec, "ls")
    t.check(r.rc == 0 and os.path.getsize(rec) > 20, "--record rec.bin ls", r.describe())
    data = bytearray(open(rec, "rb").read())
    data[-1] = 0x80  # NLMSG_DONE's status becomes INT_MIN, whose negation is undefined
    bad = os.path.join(base, "rec80.bin")
    open(bad, "wb").write(bytes(data))
    r = run(sd, "--replay", bad, "ls")
    finishes(t, "--replay with an NLMSG_DONE status of INT_MIN", r, rcs=(3,))
    t.check(b"Protocol error" in r.err, "INT_MIN status: reported as EPROTO", r.describe())


def escaped_file_text(sd: str, base: str, t) -> None:
    d = tree(base, "evil-line")
    with open(os.path.join(d, "net/tcp"), "ab") as f:
        f.write(b"   9: \x1b[2J\xe2\x80\xae garbage \xc2\x9b\n")
    r = run(sd, "--proc-root", d, "--source", "proc", "ls")
    finishes(t, "malformed /proc/net/tcp line with escapes", r, rcs=(3,))
    t.check(b"\\x1b[2J" in r.err and b"\\u{202e}" in r.err,
            "malformed /proc/net/tcp line: quoted escaped on stderr", r.describe())


def body(args, t) -> None:
    sd = args.sockdoctor
    base = tempfile.mkdtemp(prefix="sockdoctor-hostile-tree-")
    listener = socket.socket()  # so that the copied /proc/net/tcp has a row to own
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        fifos_and_devices(sd, base, t)
        huge_sysctls(sd, base, t)
        corrupt_recording(sd, base, t)
        escaped_file_text(sd, base, t)
    finally:
        listener.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main_wrapper("hostile_tree_test", body)
