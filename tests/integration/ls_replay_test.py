#!/usr/bin/env python3
"""`sockdoctor ls --record FILE` then `--replay FILE` give the same sockets; a truncated recording
is refused as a whole (exit 3, a message on stderr, nothing on stdout), never half-printed."""

from __future__ import annotations

import os
import shutil
import struct
import tempfile

from harness import StateFarm, json_key, json_owners, main_wrapper, run_sockdoctor, sockdoctor_json


NLMSG_DONE = 3


def without_owners(s: dict) -> dict:
    return {k: v for k, v in s.items() if k != "owners"}


def first_done_end(data: bytes):
    """End offset of the first NLMSG_DONE in a stream of netlink messages, None if none."""
    off = 0
    while off + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, off)
        if length < 16:
            return None
        off += (length + 3) & ~3
        if kind == NLMSG_DONE:
            return off
    return None


def body(args, t) -> None:
    sd = args.sockdoctor
    tmp = tempfile.mkdtemp(prefix="sd-replay-")
    try:
        with StateFarm() as farm:
            run(t, sd, farm, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(t, sd: str, farm, tmp: str) -> None:
    rec = os.path.join(tmp, "dump.bin")
    live = sockdoctor_json(sd, "ls", "--record", rec, "--json")
    size = os.path.getsize(rec) if os.path.exists(rec) else 0
    t.check(size > 0, f"--record wrote {rec} ({size} bytes)")
    live_keys = {json_key(s) for s in live["sockets"]}
    t.check({fs.key for fs in farm.sockets} <= live_keys, "the recorded listing has every farm socket")

    # Kill nothing, change nothing: the replay must not look at the live kernel, so compare with
    # what was recorded, field by field (timers included: they are bytes in the recording).
    replay = sockdoctor_json(sd, "ls", "--replay", rec, "--json")
    want = sorted((without_owners(s) for s in live["sockets"]), key=lambda s: repr(json_key(s)))
    got = sorted((without_owners(s) for s in replay["sockets"]), key=lambda s: repr(json_key(s)))
    t.equal(len(got), len(want), "--replay: as many sockets as recorded")
    diff = [f"{w}\n       !=  {g}" for w, g in zip(want, got) if w != g]
    t.check(not diff, "--replay: every socket identical to the recorded listing (owners aside)",
            "\n     ".join(diff[:5]))
    for k in ("states", "total"):  # "source" and the owner-scan notes differ by design
        t.equal(replay["summary"].get(k), live["summary"].get(k), f"--replay: the same summary.{k}")
    owners_same = all(json_owners(a) == json_owners(b) for a, b in
                      zip(sorted(live["sockets"], key=lambda s: repr(json_key(s))),
                          sorted(replay["sockets"], key=lambda s: repr(json_key(s)))))
    no_owners = all(not s["owners"] for s in replay["sockets"])
    t.check(owners_same or no_owners, "--replay: owners either as recorded or not claimed at all",
            "replayed owners differ from the live ones")

    filtered = sockdoctor_json(sd, "ls", "--replay", rec, "--state", "close-wait", "--json")
    t.equal(sorted(json_key(s) for s in filtered["sockets"]),
            sorted(json_key(s) for s in live["sockets"] if s["state"] == "close_wait"),
            "--replay with --state close-wait: the recorded CLOSE_WAIT sockets")
    table = run_sockdoctor(sd, "--replay", rec, "ls")
    t.check(table.rc == 0 and table.text().count("\n") == len(live["sockets"]) + 1,
            "--replay before the subcommand: a table with a header and one line per socket", table.describe())

    with open(rec, "rb") as f:
        data = f.read()
    # netlink messages are 4-byte aligned: an odd length always cuts one in the middle.
    for label, cut in (("mid-message", len(data) // 2 | 1), ("one byte short", len(data) - 1)):
        bad = os.path.join(tmp, f"truncated-{cut}.bin")
        with open(bad, "wb") as f:
            f.write(data[:cut])
        for extra in ([], ["--json"]):
            r = run_sockdoctor(sd, "ls", "--replay", bad, *extra)
            what = f"--replay truncated ({label}, {cut} of {len(data)} bytes) {' '.join(extra)}".rstrip()
            t.check(r.rc == 3, f"{what}: exits 3", r.describe())
            t.check(len(r.err.strip()) > 0, f"{what}: says why on stderr", r.describe())
            t.check(r.out == b"", f"{what}: prints no partial listing", r.describe())

    # A cut exactly between the IPv4 and the IPv6 dump leaves well-formed messages: only the
    # missing second NLMSG_DONE tells that half the recording is gone.
    boundary = first_done_end(data)
    if boundary is not None and boundary < len(data):
        bad = os.path.join(tmp, "first-dump-only.bin")
        with open(bad, "wb") as f:
            f.write(data[:boundary])
        r = run_sockdoctor(sd, "ls", "--replay", bad)
        t.check(r.rc == 3 and r.err.strip() and r.out == b"",
                f"--replay truncated after the first dump ({boundary} of {len(data)} bytes): exit 3, "
                "stderr, no output", r.describe())

    empty = os.path.join(tmp, "empty.bin")
    open(empty, "wb").close()
    r = run_sockdoctor(sd, "ls", "--replay", empty)
    t.check(r.rc == 3 and r.err.strip() and r.out == b"", "--replay of an empty file: exit 3, stderr, no output",
            r.describe())
    r = run_sockdoctor(sd, "ls", "--replay", os.path.join(tmp, "does-not-exist.bin"))
    t.check(r.rc == 64 and r.out == b"", "--replay of a missing file: usage error 64", r.describe())


if __name__ == "__main__":
    main_wrapper("ls_replay_test", body)
