#!/usr/bin/env python3
"""`sockdoctor ls` names the same owners (pid, comm, fd) as `ss -tanp`, shows none for sockets
without an inode, both processes for a socket shared after fork, and filters by --pid/--comm."""

from __future__ import annotations

from harness import StateFarm, consistent_with_ss, json_key, json_owners, main_wrapper, sockdoctor_json


def body(args, t) -> None:
    sd = args.sockdoctor
    with StateFarm() as farm:
        doc, ss = consistent_with_ss(lambda: sockdoctor_json(sd, "ls", "--json"), with_owners=True)
        got = {json_key(s): s for s in doc["sockets"]}
        ss_by_key = {s.key: s for s in ss}

        diff = [f"{k}: sockdoctor {sorted(json_owners(got[k])) if k in got else 'missing'}, ss {sorted(s.owners)}"
                for k, s in ss_by_key.items() if k not in got or json_owners(got[k]) != s.owners]
        t.check(not diff, f"owners of all {len(ss_by_key)} sockets equal ss -tanp's users:(...)",
                "\n     ".join(diff))

        diff = [f"{fs.label}: got {sorted(json_owners(got[fs.key])) if fs.key in got else 'missing'}, "
                f"want {sorted(fs.owners)}"
                for fs in farm.sockets if fs.key not in got or json_owners(got[fs.key]) != fs.owners]
        t.check(not diff, "every farm socket has exactly the holders the farm gave it", "\n     ".join(diff))

        tw_bad, orphan_bad, owned_bad = [], [], []
        for fs in farm.sockets:
            s = got.get(fs.key)
            if s is None:
                continue
            if not fs.owners:  # TIME_WAIT / FIN_WAIT2 mini-sockets, orphans, the unaccepted child
                bad = tw_bad if fs.state in ("time_wait", "fin_wait2") else orphan_bad
                if s["owners"] != [] or s["inode"] != 0:
                    bad.append(f"{fs.label}: {s!r}")
            elif s["inode"] == 0:
                owned_bad.append(f"{fs.label}: {s!r}")
        t.check(not tw_bad, 'TIME_WAIT and orphaned FIN_WAIT2: inode 0, "owners": []', "\n     ".join(tw_bad))
        t.check(not orphan_bad, 'orphaned FIN_WAIT1/LAST_ACK, unaccepted child: inode 0, "owners": []',
                "\n     ".join(orphan_bad))
        t.check(not owned_bad, "every owned socket has an inode", "\n     ".join(owned_bad))

        shared = [fs for fs in farm.sockets if fs.label.endswith("/shared")]
        for fs in shared:
            pids = {o["pid"] for o in got.get(fs.key, {}).get("owners", [])}
            want = {farm.holders["sd-forker"].pid, farm.holders["sd-forker"].child_pid}
            t.equal(pids, want, f"{fs.label}: shared after fork, both pids listed")

        check_cmdline(t, farm, doc)
        check_filters(t, sd, farm, doc)


def check_cmdline(t, farm, doc: dict) -> None:
    leaker = farm.holders["sd-leaker"]
    cmdlines = {o["cmdline"] for s in doc["sockets"] for o in s["owners"] if o["pid"] == leaker.pid}
    t.check(len(cmdlines) == 1 and "--holder sd-leaker" in next(iter(cmdlines)),
            "owner cmdline is /proc/PID/cmdline with spaces for NULs", repr(cmdlines))


def keys_held_by(doc: dict, pred) -> list:
    return sorted(json_key(s) for s in doc["sockets"] if any(pred(o) for o in s["owners"]))


def check_filters(t, sd: str, farm, full: dict) -> None:
    leaker = farm.holders["sd-leaker"]
    doc = sockdoctor_json(sd, "ls", "--pid", str(leaker.pid), "--json")
    want = keys_held_by(full, lambda o: o["pid"] == leaker.pid)
    t.equal(sorted(json_key(s) for s in doc["sockets"]), want, f"--pid {leaker.pid}: the leaker's sockets")
    t.check(len(want) == 2 * len(farm.families) and all(s["state"] == "close_wait" for s in doc["sockets"]),
            "--pid: the leaker holds exactly its CLOSE_WAIT sockets", repr(want))

    server, listener = farm.holders["sd-server"], farm.holders["sd-listener"]
    doc = sockdoctor_json(sd, "ls", "--pid", str(server.pid), "-p", str(listener.pid), "--json")
    want = keys_held_by(full, lambda o: o["pid"] in (server.pid, listener.pid))
    t.equal(sorted(json_key(s) for s in doc["sockets"]), want, "--pid twice: the union")

    child = farm.holders["sd-forker"]
    doc = sockdoctor_json(sd, "ls", "--pid", str(child.child_pid), "--json")
    t.equal(sorted(json_key(s) for s in doc["sockets"]),
            sorted(fs.key for fs in farm.sockets if fs.label.endswith("/shared")),
            "--pid of the fork child: the shared sockets")

    doc = sockdoctor_json(sd, "ls", "--comm", "sd-forkchild", "--json")
    t.equal(sorted(json_key(s) for s in doc["sockets"]),
            sorted(fs.key for fs in farm.sockets if fs.label.endswith("/shared")),
            "--comm sd-forkchild: the shared sockets")
    doc = sockdoctor_json(sd, "ls", "--comm", "sd-backlog", "--comm", "sd-listener", "--json")
    want = keys_held_by(full, lambda o: o["comm"] in ("sd-backlog", "sd-listener"))
    t.equal(sorted(json_key(s) for s in doc["sockets"]), want, "--comm twice: the union (the listeners)")
    t.check(all(s["state"] == "listen" for s in doc["sockets"]) and len(want) == 2 * len(farm.families),
            "--comm sd-backlog --comm sd-listener: only the listeners")
    doc = sockdoctor_json(sd, "ls", "--comm", "sd-lea", "--json")
    t.equal(doc["sockets"], [], "--comm is an exact match (a prefix selects nothing)")
    doc = sockdoctor_json(sd, "ls", "--comm", "sd-client", "--state", "syn-sent", "--json")
    t.equal(sorted(json_key(s) for s in doc["sockets"]), sorted(fs.key for fs in farm.by_state("syn_sent")),
            "--comm with --state: both filters apply")


if __name__ == "__main__":
    main_wrapper("ls_owners_test", body)
