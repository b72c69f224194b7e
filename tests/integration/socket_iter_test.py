#!/usr/bin/env python3
"""`--source bpf` (the eBPF iter/tcp socket iterator) lists exactly what sock_diag lists on the
state farm: the same sockets with the same states, queues, timers, inodes, cookies, owners and
tcp_info, within the time that passes between two listings; `check` finds the same findings and
`ls` filters (states, families) select the same sockets. sock_diag is the oracle, ss the
referee that nothing changed in between."""

from __future__ import annotations

import json
import sys

from harness import (FarmError, StateFarm, json_key, json_owners, main_wrapper, run_sockdoctor,
                     skip, sockdoctor_json)

# Fields compared exactly; the time fields below between the two sock_diag listings taken
# before and after (the box may be slow between them: no fixed slack), give or take SLACK_MS.
EXACT = ("state", "family", "inode", "cookie", "recv_q", "send_q")
SLACK_MS = 100


def fingerprint(doc: dict) -> list:
    return sorted((json_key(s), s["state"], json_owners(s), s["timer"]["kind"]) for s in doc["sockets"])


def between_netlink(sd: str, *args: str, tries: int = 4) -> tuple[dict, dict, dict]:
    """`--source bpf <args>` taken between two identical sock_diag listings of the same
    command: (before, bpf, after). A timer that fires in between forces another try."""
    for _ in range(tries):
        before = sockdoctor_json(sd, "--source", "netlink", *args)
        bpf = sockdoctor_json(sd, "--source", "bpf", *args)
        after = sockdoctor_json(sd, "--source", "netlink", *args)
        if fingerprint(before) == fingerprint(after):
            return before, bpf, after
    raise FarmError(f"sockets kept changing around `{' '.join(args)}` across {tries} attempts")


def within(value: int, earlier: int, later: int) -> bool:
    """A time read between two readings of it (which count up or down), give or take SLACK_MS."""
    lo, hi = min(earlier, later), max(earlier, later)
    return lo - SLACK_MS <= value <= hi + SLACK_MS


def compare_sockets(t, before: dict, bpf: dict, diag: dict, what: str) -> None:
    """bpf against diag (the later sock_diag listing); times between before's and diag's."""
    a = {json_key(s): s for s in bpf["sockets"]}
    b = {json_key(s): s for s in diag["sockets"]}
    early = {json_key(s): s for s in before["sockets"]}
    t.equal(sorted(a), sorted(b), f"{what}: the same {len(b)} sockets as sock_diag")
    bad = []
    for key in sorted(set(a) & set(b) & set(early)):
        x, y, z = a[key], b[key], early[key]
        for f in EXACT:
            if x.get(f) != y.get(f):
                bad.append(f"{key} {f}: bpf {x.get(f)!r}, sock_diag {y.get(f)!r}")
        if json_owners(x) != json_owners(y):
            bad.append(f"{key} owners: bpf {sorted(json_owners(x))}, sock_diag {sorted(json_owners(y))}")
        probing = x["timer"]["kind"] in ("on", "persist")  # may fire between the two listings
        if x["timer"]["kind"] != y["timer"]["kind"] or (
                not probing and x["timer"]["retrans"] != y["timer"]["retrans"]):
            bad.append(f"{key} timer: bpf {x['timer']}, sock_diag {y['timer']}")
        xi, yi = x.get("tcp_info"), y.get("tcp_info")
        if (xi is None) != (yi is None):
            bad.append(f"{key} tcp_info present: bpf {xi is not None}, sock_diag {yi is not None}")
        elif xi is not None and xi.get("timestamps") != yi.get("timestamps"):
            bad.append(f"{key} timestamps: bpf {xi.get('timestamps')}, sock_diag {yi.get('timestamps')}")
        # A retransmit or zero-window probe in between restarts its timer and the ACK clock.
        if probing:
            continue
        if not within(x["timer"]["remaining_ms"], z["timer"]["remaining_ms"], y["timer"]["remaining_ms"]):
            bad.append(f"{key} timer remaining: bpf {x['timer']}, sock_diag {z['timer']} then {y['timer']}")
        zi = z.get("tcp_info")
        if xi is not None and yi is not None and zi is not None:
            for f in ("last_data_recv_ms", "last_ack_recv_ms", "last_data_sent_ms"):
                if not within(xi[f], zi[f], yi[f]):
                    bad.append(f"{key} {f}: bpf {xi[f]}, sock_diag {zi[f]} then {yi[f]}")
    t.check(not bad, f"{what}: every field equal (times between sock_diag's before and after, "
            f"give or take {SLACK_MS} ms)", "\n     ".join(bad[:20]))


def check_json(sd: str, source: str) -> dict:
    """`check --json`, which exits 1 or 2 when it finds something."""
    r = run_sockdoctor(sd, "--source", source, "check", "--json")
    if r.rc not in (0, 1, 2):
        raise FarmError(r.describe())
    return json.loads(r.out.decode("utf-8"))


def body(args, t) -> None:
    sd = args.sockdoctor
    probe = run_sockdoctor(sd, "--source", "bpf", "ls", "--no-owners")
    if probe.rc != 0 and b"unavailable" in probe.err:
        skip("eBPF socket iterator unavailable here: " + probe.err.decode(errors="replace").strip())
    t.check(probe.rc == 0, "--source bpf ls runs", probe.describe())
    with StateFarm() as farm:
        states = {s.state for s in farm.sockets}
        print(f"farm: {len(farm.sockets)} sockets, states {sorted(states)}", flush=True)

        before, bpf, diag = between_netlink(sd, "ls", "--json")
        compare_sockets(t, before, bpf, diag, "ls --json")
        t.check({s["state"] for s in bpf["sockets"]} >= {"listen", "established", "close_wait", "fin_wait1",
                                                         "fin_wait2", "time_wait", "last_ack", "syn_sent"},
                "the comparison covers every state the farm makes",
                repr(sorted({s["state"] for s in bpf["sockets"]})))
        minis = [s for s in bpf["sockets"] if s["state"] == "fin_wait2" and s["inode"] == 0]
        t.check(bool(minis) and all(s["timer"]["kind"] == "timewait" for s in minis),
                "FIN_WAIT2 mini-sockets: tw_substate with the timewait timer, as sock_diag says", repr(minis[:2]))

        for filt in (["--state", "close-wait"], ["--state", "fin-wait-2"], ["--state", "time-wait"],
                     ["-6"], ["-4", "--state", "listen,syn-sent"]):
            before, bpf, diag = between_netlink(sd, "ls", *filt, "--json")
            compare_sockets(t, before, bpf, diag, "ls " + " ".join(filt))

        def findings(d: dict) -> list:
            return sorted((f["id"], f.get("count")) for f in d["findings"])

        for _ in range(4):
            a, b, c = (check_json(sd, src) for src in ("netlink", "bpf", "netlink"))
            if findings(a) == findings(c):
                break
        t.equal(findings(b), findings(c), "check --json: the same findings with the same counts")
        t.check(len(findings(c)) >= 2, "the farm gives check findings to compare", repr(findings(c)))
        t.equal(b["summary"].get("states"), c["summary"].get("states"), "check --json: the same state counts")

        bad = run_sockdoctor(sd, "--source", "bpf", "--replay", "/dev/null", "ls")
        t.check(bad.rc == 64 and b"--source bpf" in bad.err, "--source bpf with --replay: usage error 64",
                bad.describe())


if __name__ == "__main__":
    main_wrapper("socket_iter", body)
    sys.exit(0)
