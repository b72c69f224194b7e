#!/usr/bin/env python3
"""Hostile command lines and environments (issue 15 section 2): numbers that wrap or overflow and
empty values are usage errors (exit 64) with an escaped message; a write error on stdout gives
one line on stderr and a non-zero exit; missing privileges exit 77 and name the missing
capability; TERM=dumb gets no escape sequences from `top`."""

from __future__ import annotations

import os
import pty
import select
import shutil
import socket
import stat
import subprocess
import time

from harness import main_wrapper, run_sockdoctor

RAW = (b"\x1b", "\u202e".encode(), b"\xc2\x9b")
NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups"]


def usage_errors(sd: str, t) -> None:
    cases = [
        ["top", "--lines", "-n", "-1"],
        ["top", "--lines", "-n", "18446744073709551616"],
        ["top", "--lines", "-n", "0"],
        ["ls", "--port", ""],
        ["ls", "--port", "70000"],
        ["ls", "--pid", "-1"],
        ["ls", "--pid", ""],
        ["ls", "--peer", ""],
        ["ls", "--comm", ""],
        ["explain", ""],
        ["trace", "--port", ""],
        ["ls", "--state", "\x1b[2J\u202e"],
        ["ls", "--pid", "\x1b[2J\u202e"],
        ["trace", "--state", "\x1b[2J\u202e"],
        ["trace", "--netns", "/tmp/\x1b[2J\u202e"],
    ]
    for args in cases:
        what = "sockdoctor " + " ".join(repr(a) for a in args)
        try:
            r = run_sockdoctor(sd, *args, timeout=20)
        except subprocess.TimeoutExpired:
            t.check(False, f"{what}: a usage error, not a run", "still running after 20 s")
            continue
        t.equal(r.rc, 64, f"{what}: exit 64")
        raw = [b for b in RAW if b in r.err or b in r.out]
        t.check(not raw, f"{what}: the message is escaped", repr(r.err))
        t.check(len(r.err.strip()) > 0, f"{what}: says why on stderr", repr(r.err))
    r = run_sockdoctor(sd, "ls", "--state", "\x1b[2J")
    t.check(b"\\x1b[2J" in r.err, "ls --state ESC[2J: quoted as \\x1b[2J", repr(r.err))


def write_errors(sd: str, t) -> None:
    try:
        if not stat.S_ISCHR(os.stat("/dev/full").st_mode):
            raise OSError
    except OSError:
        print("note: no /dev/full; write errors are not tested")
        return
    for args in (["explain"], ["explain", "--json"], ["explain", "time-wait"], ["lab", "--list"],
                 ["--help"], ["ls", "--help"], ["--version"], ["ls"], ["ls", "--json"],
                 ["check"], ["check", "--json"], ["top", "--lines", "-n", "1"]):
        what = "sockdoctor " + " ".join(args) + " > /dev/full"
        with open("/dev/full", "wb") as full:
            r = subprocess.run([sd, *args], stdin=subprocess.DEVNULL, stdout=full,
                               stderr=subprocess.PIPE, timeout=60)
        lines = [ln for ln in r.stderr.splitlines() if b"write error" in ln]
        t.check(r.returncode not in (0, 1, 2), f"{what}: non-zero exit (not a check verdict)",
                f"exit {r.returncode}")
        t.check(len(lines) == 1 and b"No space left on device" in lines[0],
                f"{what}: one line on stderr says so", repr(r.stderr))


def holder_as_nobody() -> subprocess.Popen:
    """A listener held by uid 65534, so that owner lookups have another user's process to read."""
    code = ("import socket,sys,time\ns=socket.socket(); s.bind(('127.0.0.1',0)); s.listen()\n"
            "print('ready',flush=True); time.sleep(120)\n")
    p = subprocess.Popen(["setpriv", *NOBODY, "python3", "-c", code], stdout=subprocess.PIPE)
    p.stdout.readline()
    return p


def privileges(sd: str, t) -> None:
    if shutil.which("setpriv") is None:
        print("note: setpriv (util-linux) is missing; privilege cases are not tested")
        return
    # The binary must be reachable by nobody (it is under a build tree; copy it to a 0755 place).
    d = harness_tmpdir()
    exe = os.path.join(d, "sockdoctor")
    shutil.copy(sd, exe)
    os.chmod(d, 0o755)
    os.chmod(exe, 0o755)
    for args, needle in ((["--all-netns", "ls"], b"--all-netns"),
                         (["--owner-scan", "bpf", "ls"], b"--owner-scan bpf")):
        r = subprocess.run(["setpriv", *NOBODY, exe, *args], capture_output=True, timeout=60)
        what = "unprivileged sockdoctor " + " ".join(args)
        if b"not compiled" in r.stderr or b"not built" in r.stderr:
            print(f"note: {what}: eBPF is not built in; skipped")
            continue
        t.equal(r.returncode, 77, f"{what}: exit 77 (README: needs privileges it does not have)")
        t.check(needle in r.stderr, f"{what}: names the option", repr(r.stderr))
    # Root with the capabilities dropped: the note names the missing capability.
    holder = holder_as_nobody()
    try:
        drop = "--bounding-set=-sys_ptrace,-dac_read_search,-dac_override"
        r = subprocess.run(["setpriv", drop, "--inh-caps=-all", exe, "ls"], capture_output=True,
                           timeout=60)
        if r.returncode == 1 and b"setpriv" in r.stderr:
            print(f"note: this setpriv cannot drop capabilities: {r.stderr!r}")
            return
        t.equal(r.returncode, 0, "root without CAP_SYS_PTRACE: ls exits 0")
        t.check(b"lacks CAP_SYS_PTRACE" in r.stderr and b"another user namespace" not in r.stderr,
                "root without CAP_SYS_PTRACE: the note names the missing capability",
                repr(r.stderr))
        r = subprocess.run(["setpriv", drop, "--inh-caps=-all", exe, "check"], capture_output=True,
                           timeout=60)
        t.check(b"lacks CAP_SYS_PTRACE" in r.stdout, "root without CAP_SYS_PTRACE: check says so",
                repr(r.stdout[:1500]))
    finally:
        holder.kill()
        holder.wait()
    shutil.rmtree(d, ignore_errors=True)


def harness_tmpdir() -> str:
    import tempfile
    return tempfile.mkdtemp(prefix="sockdoctor-hostile-")


def top_in_pty(sd: str, term: str) -> bytes:
    """`top -n 2` with stdout on a pseudo-terminal; returns what it wrote there."""
    master, slave = pty.openpty()
    env = dict(os.environ, TERM=term)
    p = subprocess.Popen([sd, "top", "-n", "2", "-d", "0.2"], stdin=subprocess.DEVNULL,
                         stdout=slave, stderr=slave, env=env)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif p.poll() is not None:
            break
    p.kill()
    p.wait()
    os.close(master)
    return out


def dumb_terminal(sd: str, t) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        fancy = top_in_pty(sd, "xterm")
        t.check(b"\x1b[" in fancy, "top on an xterm pty draws with escape sequences (the test can fail)",
                repr(fancy[:300]))
        plain = top_in_pty(sd, "dumb")
        t.check(b"\x1b" not in plain, "TERM=dumb: top writes no escape sequence", repr(plain[:600]))
        t.check(b"total=" in plain, "TERM=dumb: top writes its lines", repr(plain[:600]))


def body(args, t) -> None:
    sd = args.sockdoctor
    usage_errors(sd, t)
    write_errors(sd, t)
    privileges(sd, t)
    dumb_terminal(sd, t)


if __name__ == "__main__":
    main_wrapper("hostile_cli_test", body)
