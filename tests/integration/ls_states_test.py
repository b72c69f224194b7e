#!/usr/bin/env python3
"""`sockdoctor ls` sees every TCP state that the state farm makes, counts them as ss does, and its
--state, --port, --peer, -4/-6 and --source proc options select what they say."""

from __future__ import annotations

from harness import (StateFarm, consistent_with_ss, filtered_and_full, json_counts, json_key,
                     main_wrapper, run_sockdoctor, sockdoctor_json, ss_counts, state_counts)

SS_NAMES = {"established": "ESTAB", "syn_sent": "SYN-SENT", "syn_recv": "SYN-RECV", "fin_wait1": "FIN-WAIT-1",
            "fin_wait2": "FIN-WAIT-2", "time_wait": "TIME-WAIT", "close": "UNCONN", "close_wait": "CLOSE-WAIT",
            "last_ack": "LAST-ACK", "listen": "LISTEN", "closing": "CLOSING"}
WANTED_STATES = {"listen", "syn_sent", "established", "fin_wait1", "fin_wait2", "time_wait",
                 "close_wait", "last_ack"}


def summary_counts(doc: dict) -> dict:
    """summary.states without zero entries (listing every state with 0 is allowed)."""
    return dict(sorted((k, v) for k, v in doc.get("summary", {}).get("states", {}).items() if v))


def check_summary(t, doc: dict, what: str) -> None:
    t.equal(doc.get("schema_version"), 1, f"{what}: schema_version is 1")
    summary = doc.get("summary", {})
    t.equal(summary_counts(doc), json_counts(doc),
            f"{what}: summary.states matches the sockets list")
    t.equal(summary.get("total"), len(doc["sockets"]), f"{what}: summary.total is the number of sockets")


def body(args, t) -> None:
    sd = args.sockdoctor
    with StateFarm() as farm:
        t.check(WANTED_STATES <= {s.state for s in farm.sockets}, "the farm made every wanted state",
                f"made {sorted({s.state for s in farm.sockets})}")
        print(f"farm: {len(farm.sockets)} sockets in {farm.families}; "
              f"{farm.seconds_left():.0f} s before the first TIME_WAIT expires", flush=True)

        doc, ss = consistent_with_ss(lambda: sockdoctor_json(sd, "ls", "--json"))
        check_summary(t, doc, "ls --json")
        t.equal(json_counts(doc), ss_counts(ss), "ls --json per-state counts equal ss -tanH's")
        t.equal(summary_counts(doc), ss_counts(ss),
                "ls --json summary.states equals ss -tanH's counts")

        by_key = {json_key(s): s for s in doc["sockets"]}
        t.equal(len(by_key), len(doc["sockets"]), "no socket is listed twice")
        wrong = []
        for fs in farm.sockets:
            got = by_key.get(fs.key)
            if got is None and fs.expires_at is not None and farm.seconds_left() <= 0:
                print(f"note: {fs.label} expired before it could be checked (slow machine)")
                continue
            if got is None:
                wrong.append(f"{fs.label} {fs.local}->{fs.peer}: missing")
            elif got["state"] != fs.state:
                wrong.append(f"{fs.label} {fs.local}->{fs.peer}: {got['state']}, expected {fs.state}")
        t.check(not wrong, f"all {len(farm.sockets)} farm sockets listed with their state and endpoints",
                "\n     ".join(wrong))
        for fs in farm.sockets:
            got = by_key.get(fs.key)
            if got is not None and fs.state in ("time_wait", "fin_wait2") and not fs.owners:
                t.check(got["timer"]["kind"] == "timewait" and got["inode"] == 0,
                        f"{fs.label}: a mini-socket, timewait timer and inode 0", repr(got))

        check_timers(t, sd, farm)
        check_state_filter(t, sd)
        check_port_and_peer(t, sd, farm)
        check_families(t, sd, farm)

        proc, ss = consistent_with_ss(lambda: sockdoctor_json(sd, "--source", "proc", "ls", "--json"))
        check_summary(t, proc, "--source proc ls --json")
        t.equal(json_counts(proc), ss_counts(ss), "--source proc: per-state counts equal ss -tanH's")
        t.equal(sorted(json_key(s) for s in proc["sockets"]), sorted(s.key for s in ss),
                "--source proc: the same sockets as ss -tanH")

        check_table(t, sd, farm)
        print(f"done with {farm.seconds_left():.0f} s to spare before the first TIME_WAIT expires", flush=True)


def check_timers(t, sd: str, farm) -> None:
    """Timer kinds equal ss -o's, and the kernel-facts expectations hold for the farm's sockets."""
    doc, ss = consistent_with_ss(lambda: sockdoctor_json(sd, "ls", "--json"), timers=True)
    got = {json_key(s): s["timer"]["kind"] for s in doc["sockets"]}
    diff = [f"{s.key} {s.state}: sockdoctor {got.get(s.key)}, ss {s.timer}" for s in ss if got.get(s.key) != s.timer]
    t.check(not diff, f"timer kinds of all {len(ss)} sockets equal ss -o's", "\n     ".join(diff))
    expect = {"syn_sent": {"on"}, "fin_wait1": {"persist", "on"}, "last_ack": {"persist", "on"},
              "time_wait": {"timewait"}, "close_wait": {"off"}, "listen": {"off"}}
    bad = [f"{fs.label}: {got.get(fs.key)}" for fs in farm.sockets
           if fs.key in got and fs.state in expect and got[fs.key] not in expect[fs.state]]
    bad += [f"{fs.label}: {got.get(fs.key)}" for fs in farm.sockets if fs.key in got and fs.state == "fin_wait2"
            and got[fs.key] != ("timewait" if not fs.owners else "off")]
    t.check(not bad, "timers: SYN_SENT on, FIN_WAIT1/LAST_ACK persist, TW and orphaned FIN_WAIT2 timewait, "
            "half-closed FIN_WAIT2 and CLOSE_WAIT off", "\n     ".join(bad))


def check_table(t, sd: str, farm) -> None:
    table, ss = consistent_with_ss(lambda: run_sockdoctor(sd, "ls"))
    t.check(table.rc == 0, "ls (table) exits 0", table.describe())
    lines = table.text().splitlines()
    header = lines[0] if lines else "(no output)"
    t.check(header.split()[:3] == ["State", "Recv-Q", "Send-Q"] and "Local Address" in header
            and "Peer Address" in header and header.split()[-1] == "Process" and "\u2026" not in header,
            "ls table header: State Recv-Q Send-Q Local Address.. Peer Address.. ... Process, untruncated",
            header)
    rows = [line.split() for line in lines[1:] if line.strip()]
    t.equal(len(rows), len(ss), "ls table: one line per socket")
    t.equal(state_counts(r[0] for r in rows), state_counts(SS_NAMES[s.state] for s in ss),
            "ls table: ss state names (ESTAB, CLOSE-WAIT, ...) with ss's counts")
    leaker = farm.holders["sd-leaker"]
    cw_rows = [r for r in rows if r[0] == "CLOSE-WAIT"]
    t.check(cw_rows and all(f"{leaker.pid}/sd-leaker" in " ".join(r) for r in cw_rows),
            "ls table: CLOSE-WAIT lines name pid/comm of the leaker", repr(cw_rows))


def check_filter(t, sd: str, args: list, pred, what: str) -> list:
    """Runs `ls <args> --json` and wants exactly the sockets of the unfiltered listing for which
    pred(socket) holds. Returns the keys wanted."""
    doc, full = filtered_and_full(sd, *args)
    want = sorted(json_key(s) for s in full["sockets"] if pred(s))
    check_summary(t, doc, " ".join(args))
    t.equal(sorted(json_key(s) for s in doc["sockets"]), want, f"{' '.join(args)}: {what} ({len(want)})")
    return want


def check_state_filter(t, sd: str) -> None:
    for spelling in ("close-wait", "close_wait", "CLOSE-WAIT"):
        want = check_filter(t, sd, ["--state", spelling], lambda s: s["state"] == "close_wait",
                            "exactly the CLOSE_WAIT sockets")
        t.check(len(want) > 0, f"--state {spelling}: there are CLOSE_WAIT sockets to find")
    check_filter(t, sd, ["--state", "fin-wait-1,last-ack"], lambda s: s["state"] in ("fin_wait1", "last_ack"),
                 "both states")
    check_filter(t, sd, ["--state", "time-wait", "--state", "syn-sent"],
                 lambda s: s["state"] in ("time_wait", "syn_sent"), "repeated: the union")
    bad = run_sockdoctor(sd, "ls", "--state", "half-open")
    t.check(bad.rc == 64 and bad.err and not bad.out, "--state half-open: usage error 64, nothing on stdout",
            bad.describe())


def check_port_and_peer(t, sd: str, farm) -> None:
    main4 = next(s for s in farm.sockets if s.label.endswith("listen/main"))
    port = main4.local[1]
    want = check_filter(t, sd, ["--port", str(port)], lambda s: port in (s["local"]["port"], s["peer"]["port"]),
                        "every socket with that local or peer port")
    t.check(main4.key in want, f"--port {port}: includes the listener")

    backlog = next(s for s in farm.sockets if s.label == f"{main4.family}/listen/backlog")
    ports = {port, backlog.local[1]}
    check_filter(t, sd, ["--port", str(port), "--port", str(backlog.local[1])],
                 lambda s: bool(ports & {s["local"]["port"], s["peer"]["port"]}), "twice: the union")

    addr = main4.local[0]
    spec = f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"
    want = check_filter(t, sd, ["--peer", spec], lambda s: (s["peer"]["addr"], s["peer"]["port"]) == (addr, port),
                        "the clients of that listener")
    t.check(len(want) >= 8, f"--peer {spec}: at least the 8 long-lived farm clients", f"{len(want)}")

    if "ipv6" in farm.families:
        want = check_filter(t, sd, ["--peer", "::1"], lambda s: s["peer"]["addr"] == "::1",
                            "every IPv6 connection")
        t.check(len(want) > 0, "--peer ::1: not empty")


def check_families(t, sd: str, farm) -> None:
    for flag, fam in (("-4", "ipv4"), ("-6", "ipv6")):
        want = check_filter(t, sd, [flag], lambda s: s["family"] == fam, f"exactly the {fam} sockets")
        if fam in farm.families:
            t.check(len(want) > 0, f"ls {flag}: the farm's {fam} sockets are there")
    both = run_sockdoctor(sd, "ls", "-4", "-6")
    t.check(both.rc == 64 and not both.out, "ls -4 -6: usage error 64", both.describe())


if __name__ == "__main__":
    main_wrapper("ls_states_test", body)
