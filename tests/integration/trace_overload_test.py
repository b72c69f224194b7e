#!/usr/bin/env python3
"""Under a deliberate overload the register loses data, and says so: nothing goes silently.

`trace --json --entries 16 --ring-size 4096` (16 sockets, a one-page ring) while 1500 loopback
connections churn. The summary must report evicted entries and events lost to the full ring,
stderr must say it while tracing, and what was received plus what was lost must account for
every state change the kernel made (inet_sock_set_state calls, minus the full sockets replaced
by their mini-sockets, which emit nothing)."""

import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import tracekit  # noqa: E402

CONNECTIONS = 1500


def churn(port: int, n: int) -> None:
    with socket.socket() as lst:
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind(("127.0.0.1", port))
        lst.listen(512)
        for _ in range(n):
            c = socket.create_connection(("127.0.0.1", port))
            s, _ = lst.accept()
            c.close()
            s.close()


def body(args, checks):
    sd = args.sockdoctor
    t = tracekit.start_or_skip(sd, "--json", "--entries", "16", "--ring-size", "4096")
    try:
        churn(9301, CONNECTIONS)
        time.sleep(1.5)  # past the once-a-second drop report
        rc = t.stop(signal.SIGINT)
        checks.equal(rc, 0, "trace exits 0")
        lines = t.json_lines()
        summary = [x for x in lines if x.get("type") == "summary"]
        if not checks.check(len(summary) == 1, "a summary object", t.stdout_text()[-500:]):
            return
        reg, received = summary[0]["register"], summary[0]["received"]
        events = [x for x in lines if x.get("type") == "transition"]
        checks.equal(received, len(events), "the summary counts what was printed")
        checks.check(reg["ring_drops"] > 0, "events lost to the full ring are counted", str(reg))
        # Every connection leaves a TIME_WAIT entry (the client closes first): all but 16 of
        # them must have been pushed out, and counted.
        checks.check(reg["evicted"] + reg["insert_failures"] >= CONNECTIONS - 16,
                     "entries pushed out of the 16-entry map are counted", str(reg))
        checks.check(reg["entries"] <= 16, "the map never holds more than its capacity", str(reg))
        checks.check("events lost, the ring buffer was full" in t.stderr_text(),
                     "stderr says so while tracing", t.stderr_text()[-500:])
        attempted = reg["transitions"] - reg["superseded"]
        checks.check(received + reg["ring_drops"] >= attempted,
                     "received + lost account for every state change",
                     f"received {received} + lost {reg['ring_drops']} < {attempted}")
        checks.check(attempted >= CONNECTIONS * 8, "the churn was traced at all", str(reg))
        # Runs the kernel skipped (a program nesting in itself on one CPU) are counted too;
        # rare, so only their presence is checked.
        checks.check(isinstance(reg.get("skipped_runs"), int) and reg["skipped_runs"] >= 0,
                     "runs skipped by the kernel are reported", str(reg))
    finally:
        t.cleanup()


if __name__ == "__main__":
    harness.main_wrapper("trace_overload", body)
