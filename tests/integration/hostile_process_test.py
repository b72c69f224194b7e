#!/usr/bin/env python3
"""A hostile process (issue 15 section 2): named "ab<U+202E>txt<U+009B>.exe" (shows as "abexe.txt"
when the bidi override reaches a terminal), with bidi and invisible characters in its argv and a
1 MB command line, holding 395 sockets (5 in CLOSE_WAIT). Nothing raw may reach a terminal in
ls, check, top or --all-netns, and `ls --json` must stay small: the command line is cut at 4 KiB
per owner and flagged (it was repeated whole for every socket: 420 MB of JSON)."""

from __future__ import annotations

import json
import subprocess

from harness import main_wrapper, run_sockdoctor
from hostile_cli_test import top_in_pty

NAME = b"ab\xe2\x80\xaetxt\xc2\x9b.exe"  # 14 bytes: fits in comm
RAW = (b"\x1b", "\u202e".encode(), "\u2066".encode(), "\u200b".encode(), b"\xc2\x9b")
HOLDER = r"""
import ctypes, socket, sys, time
ctypes.CDLL(None).prctl(15, bytes.fromhex(sys.argv[1]), 0, 0, 0)
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(512)
keep = []
for i in range(200):
    c = socket.create_connection(l.getsockname()); s, _ = l.accept()
    if i < 5:
        s.close(); keep.append(c)  # c stays in CLOSE_WAIT, held by us
    else:
        keep += [c, s]
print('ready', flush=True); time.sleep(120)
"""


def body(args, t) -> None:
    sd = args.sockdoctor
    argv = ["python3", "-c", HOLDER, NAME.hex(), "x\u202ey\u200bz\u2066w"] + ["A" * 100_000] * 10
    p = subprocess.Popen(argv, stdout=subprocess.PIPE)
    try:
        t.check(p.stdout.readline().strip() == b"ready", "holder ready")
        for extra in (["ls"], ["ls", "-w"], ["ls", "--json"], ["check", "--min-age", "0"],
                      ["check", "--min-age", "0", "--json"], ["top", "--lines", "-n", "1"],
                      ["top", "--lines", "--json", "-n", "1"], ["--all-netns", "ls", "-w"],
                      ["--all-netns", "check", "--min-age", "0"]):
            r = run_sockdoctor(sd, *extra)
            what = " ".join(extra)
            t.check(r.rc in (0, 1, 2), f"{what}: completes", r.describe())
            raw = [b for b in RAW if b in r.out or b in r.err]
            t.check(not raw, f"{what}: no raw bidi, invisible or control character", f"{raw}: {r.out[:800]!r}")
        wide = run_sockdoctor(sd, "ls", "-w").out
        t.check(b"ab\\u{202e}txt\\xc2\\x9b.exe" in wide, "ls -w shows the name escaped", repr(wide[:600]))
        check = run_sockdoctor(sd, "check", "--min-age", "0").out
        t.check(b"\\u{202e}" in check, "check names the holder, escaped", repr(check[:800]))
        screen = top_in_pty(sd, "xterm")
        raw = [b for b in RAW[1:] if b in screen]
        t.check(not raw and b"\\u{202e}" in screen, "top's screen shows the name escaped",
                f"{raw}: {screen[-1500:]!r}")

        r = run_sockdoctor(sd, "ls", "--json")
        doc = json.loads(r.out)
        mine = [o for s in doc["sockets"] for o in s.get("owners", []) if o["pid"] == p.pid]
        t.check(len(mine) >= 395, f"ls --json: the holder owns {len(mine)} sockets (395 expected)", "")
        t.check(all(o.get("cmdline_truncated") is True and len(o["cmdline"]) <= 4096 for o in mine),
                "ls --json: each owner's cmdline is cut to 4 KiB and flagged", repr(mine[:1])[:600])
        t.check(len(r.out) < 8 * 1024 * 1024,
                f"ls --json: {len(r.out)} bytes for a 1 MB argv and 395 sockets (was ~420 MB)", "")
    finally:
        p.kill()
        p.wait()


if __name__ == "__main__":
    main_wrapper("hostile_process_test", body)
