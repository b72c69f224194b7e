#!/usr/bin/env python3
"""A process can name itself with terminal escape sequences: `sockdoctor ls` must print them
escaped (never raw ESC, BEL or C1 CSI bytes) in its table, and round-trip them in valid JSON."""

from __future__ import annotations

import json
import os

from harness import FarmError, StateFarm, json_key, main_wrapper, run_sockdoctor

# ESC [2J (clear screen), ESC ]0;t BEL (retitle the terminal), C1 CSI as UTF-8 (U+009B): 13 bytes,
# so all of it fits in the 15 bytes of comm.
EVIL_COMM = b"e\x1b[2J\x1b]0;t\x07\xc2\x9b"
EVIL_ARGV = ["\x1b[2J", "\x1b]0;title\x07", "\u009b31mred", "tab\there"]
RAW_BYTES = (b"\x1b", b"\x07", b"\x9b")


def body(args, t) -> None:
    sd = args.sockdoctor
    fam = "ipv4"
    farm = StateFarm(families=[fam], full=False)
    with farm:
        lst = farm.listener(fam, 16)
        c, s = farm.pair(fam, lst)
        name = os.fsdecode(EVIL_COMM)
        farm.holder_options[name] = {"name_bytes": EVIL_COMM, "extra_argv": EVIL_ARGV}
        farm.keep("evil-listener", fam, "listen", lst, name)
        farm.keep("evil-server", fam, "established", s, name)
        farm.keep("plain-client", fam, "established", c, "sd-client")
        farm.start_holders()
        evil = farm.holders[name]
        with open(f"/proc/{evil.pid}/comm", "rb") as f:
            comm = f.read().rstrip(b"\n")
        with open(f"/proc/{evil.pid}/cmdline", "rb") as f:
            cmdline = f.read()
        if comm != EVIL_COMM or b"\x1b]0;title\x07" not in cmdline:
            raise FarmError(f"holder setup: comm {comm!r}, cmdline {cmdline!r}")
        t.check(True, f"holder {evil.pid} has comm {comm!r} and escapes in its cmdline")

        for extra in ([], ["-w"], ["--state", "listen"], ["-w", "--state", "established"]):
            r = run_sockdoctor(sd, "ls", *extra)
            what = " ".join(["ls", *extra])
            t.check(r.rc == 0, f"{what}: exits 0", r.describe())
            raw = [b for b in RAW_BYTES if b in r.out or b in r.err]
            t.check(not raw, f"{what}: no raw ESC, BEL or C1 byte on stdout or stderr",
                    f"found {raw}; stdout: {r.out!r}")
            t.check(str(evil.pid).encode() in r.out, f"{what}: the holder's pid is shown", repr(r.out))
        wide = run_sockdoctor(sd, "ls", "-w").out
        t.check(b"\\x1b" in wide, "ls -w shows ESC as the text \\x1b", repr(wide))
        t.check(b"\\x07" in wide or b"\\a" in wide, "ls -w shows BEL escaped", repr(wide))
        t.check(b"\\xc2\\x9b" in wide or b"\\x9b" in wide or b"\\u009b" in wide.lower(),
                "ls -w shows the C1 CSI escaped", repr(wide))

        r = run_sockdoctor(sd, "ls", "--json")
        t.check(r.rc == 0, "ls --json: exits 0", r.describe())
        try:
            doc = json.loads(r.out.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            t.check(False, "ls --json: valid UTF-8 JSON", f"{e}: {r.out!r}")
            return
        t.check(True, "ls --json: valid UTF-8 JSON")
        t.check(b"\x1b" not in r.out and b"\x07" not in r.out, "ls --json: controls are JSON-escaped",
                repr(r.out))
        by_key = {json_key(x): x for x in doc["sockets"]}
        for fs in farm.sockets:
            if name not in fs.holders:
                continue
            owners = by_key.get(fs.key, {}).get("owners", [])
            mine = [o for o in owners if o["pid"] == evil.pid]
            t.check(len(mine) == 1 and mine[0]["comm"] == EVIL_COMM.decode("utf-8"),
                    f"{fs.label}: JSON comm round-trips to the raw bytes", repr(owners))
            if mine:
                got = mine[0].get("cmdline", "")
                t.check(all(a in got for a in EVIL_ARGV), f"{fs.label}: JSON cmdline keeps every argument",
                        repr(got))


if __name__ == "__main__":
    main_wrapper("ls_escape_test", body)
