#!/usr/bin/env python3
"""`check` through the socket iterator's summary mode (ESTABLISHED sockets with an fd and
TIME_WAIT entries counted in the kernel, not listed, their owners not looked up) says exactly
what `check` through sock_diag says, every socket listed: the same state counts, the same
findings with the same evidence. sock_diag is the oracle.

On the state farm (every state) plus TIME_WAIT entries on ephemeral and on listening ports, with
tcp_max_tw_buckets low so that the TIME_WAIT table finding cites both kinds (the port
classification done in the kernel), and, second, with ip_local_port_range narrowed so that a port
budget crosses the warning line: the port rule reads those sockets one by one, so the summary
must be given up (said with -v) and the finding must again equal sock_diag's. In between, the
summary's destination map shrunk to 2 entries (SOCKDOCTOR_BPF_MAX_TUPLES) overflows: -v must say
so and every socket must be listed instead, never a silently partial count."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time

from harness import FarmError, StateFarm, main_wrapper, run_sockdoctor, skip

# Evidence and fields that are times: they move between two samples taken a moment apart.
MOVING = ("age", "seconds", "_ms", "rate")


def write_sysctl(name: str, value: str) -> None:
    with open(os.path.join("/proc/sys", name.replace(".", "/")), "w") as f:
        f.write(value + "\n")


def still(value):
    """A finding without the fields that are times."""
    if isinstance(value, dict):
        return {k: still(v) for k, v in value.items() if not any(m in k for m in MOVING)}
    if isinstance(value, list):
        return [still(v) for v in value]
    return value


def check(sd: str, source: str, *extra: str, max_tuples: int = 0):
    if max_tuples:
        os.environ["SOCKDOCTOR_BPF_MAX_TUPLES"] = str(max_tuples)
    try:
        r = run_sockdoctor(sd, "--source", source, *extra, "check", "--json")
    finally:
        os.environ.pop("SOCKDOCTOR_BPF_MAX_TUPLES", None)
    if r.rc not in (0, 1, 2):
        raise FarmError(r.describe())
    return json.loads(r.out.decode("utf-8")), r.err.decode("utf-8", "replace")


def findings(doc: dict) -> list:
    out = []
    for f in doc["findings"]:
        f = dict(f)
        # Explanations quote ages; the evidence carries the numbers they are built from.
        f.pop("explanation", None)
        f.pop("title", None)
        out.append(still(f))
    return sorted(out, key=lambda f: json.dumps(f, sort_keys=True))


def oracle(t, sd: str, what: str, summarised: bool, tries: int = 4, max_tuples: int = 0) -> None:
    """`--source bpf check` between two identical `--source netlink check`s. max_tuples: the
    summary's destination map shrunk to overflow, which must list every socket instead."""
    for _ in range(tries):
        a, _ = check(sd, "netlink")
        b, notes = check(sd, "bpf", "--owner-scan", "bpf", "-v", max_tuples=max_tuples)
        c, _ = check(sd, "netlink")
        if findings(a) == findings(c) and a["summary"] == c["summary"]:
            break
    if max_tuples:
        t.check(f"more than {max_tuples} destinations" in notes and "listing every socket" in notes,
                f"{what}: -v says the summary was incomplete and every socket was listed", notes)
    else:
        counted = "counted in the kernel" in notes
        resampled = "sampling again" in notes
        t.check(counted, f"{what}: -v says the summary mode counted sockets in the kernel", notes)
        t.equal(resampled, not summarised,
                f"{what}: the summary was {'kept' if summarised else 'given up'}")
    t.equal(b["summary"]["states"], c["summary"]["states"], f"{what}: the same counts per state")
    t.equal(b["summary"]["total_sockets"], c["summary"]["total_sockets"], f"{what}: the same total")
    t.equal(findings(b), findings(c), f"{what}: the same findings, evidence and all")


def connect_close(port: int, n: int) -> list[socket.socket]:
    """n connections to 127.0.0.1:port closed by us first: TIME_WAIT on ephemeral ports."""
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        c.shutdown(socket.SHUT_WR)
        c.recv(1)
        c.close()


def serve_closing_first(listener: socket.socket, n: int, port: int) -> list[socket.socket]:
    """n connections to `port` whose accepted end closes first: TIME_WAIT on a listening port."""
    clients = []
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        s, _ = listener.accept()
        s.close()
        c.recv(1)  # the server's FIN
        clients.append(c)
    for c in clients:
        c.close()
    return clients


def accept_loop(listener: socket.socket) -> None:
    """Accepts, reads to EOF, closes, one thread per connection (the held ones read for long)."""

    def drain(s: socket.socket) -> None:
        s.settimeout(None)  # the held ones stay open until the test closes them
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        s.close()

    def run():
        while True:
            try:
                s, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=drain, args=(s,), daemon=True).start()

    threading.Thread(target=run, daemon=True).start()


def body(args, t) -> None:
    sd = args.sockdoctor
    probe = run_sockdoctor(sd, "--source", "bpf", "ls", "--no-owners")
    if probe.rc != 0 and b"unavailable" in probe.err:
        skip("eBPF socket iterator unavailable here: " + probe.err.decode(errors="replace").strip())
    write_sysctl("net.ipv4.ip_local_port_range", "40000 40999")
    # No reuse of loopback TIME_WAIT (the default 2 allows it after a second): a slow box must
    # not turn the 20 closes below into fewer blocked ports.
    write_sysctl("net.ipv4.tcp_tw_reuse", "0")
    # A listener inside the ephemeral range, bound before the farm's sockets take ports from
    # that range: bound after, one of them may already hold 40500 (EADDRINUSE, seen in CI).
    incoming = socket.socket()
    incoming.bind(("127.0.0.1", 40500))
    incoming.listen(64)
    with StateFarm() as farm:
        print(f"farm: {len(farm.sockets)} sockets", flush=True)
        serve_closing_first(incoming, 6, 40500)
        sink = socket.socket()
        sink.bind(("127.0.0.1", 9000))
        sink.listen(256)
        accept_loop(sink)
        connect_close(9000, 12)
        held = [socket.create_connection(("127.0.0.1", 9000), timeout=5) for _ in range(5)]
        time.sleep(0.3)
        with open("/proc/sys/net/ipv4/tcp_max_tw_buckets") as f:
            tw_buckets = int(f.read())
        write_sysctl("net.ipv4.tcp_max_tw_buckets", "8")  # the table finding, with its evidence
        oracle(t, sd, "state farm + TIME_WAIT on both kinds of port", summarised=True)
        oracle(t, sd, "the same with a destination map of 2 entries", summarised=True, max_tuples=2)
        doc, _ = check(sd, "bpf")
        table = [f for f in doc["findings"] if f["id"] == "time_wait_buckets"]
        t.check(bool(table), "the TIME_WAIT table finding is there to compare", repr(doc["findings"]))

        # 12 + 5 of 1000 ports toward :9000 is far below half. Narrow the range to 30 ports and
        # close 20 more connections toward it: most of the 30 blocked, over the 50% warning line.
        write_sysctl("net.ipv4.tcp_max_tw_buckets", str(tw_buckets))
        write_sysctl("net.ipv4.ip_local_port_range", "40000 40029")
        connect_close(9000, 20)
        time.sleep(0.3)
        oracle(t, sd, "a port budget over the warning line", summarised=False)
        doc, _ = check(sd, "bpf")
        ports = [f for f in doc["findings"] if f["id"] == "ephemeral_port_exhaustion"]
        t.check(bool(ports), "the port finding is there to compare", repr([f["id"] for f in doc["findings"]]))
        for c in held:
            c.close()
        sink.close()
        incoming.close()


if __name__ == "__main__":
    main_wrapper("check_aggregate", body)
    sys.exit(0)
