#!/usr/bin/env python3
"""`sockdoctor check` on a listener that never accepts.

"sd-deaf" listens with backlog 1 and never calls accept(). Clients connect until the accept
queue is full and ListenOverflows grows. check must report the full queue as critical (exit 2)
and name the listener's process."""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "check"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from holders import Holder, findings, netstat_counter, sockdoctor_check, sockdoctor_text  # noqa: E402

DEAF = r'''
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)        # sk_max_ack_backlog 1: the queue is full with 2 waiting
ready(port=srv.getsockname()[1])
hold()               # never accept()
'''

CLIENTS = 6


def listener_queue(port):
    for s in harness.run_ss(False):
        if s.state == "listen" and s.local[1] == port:
            return s.recv_q, s.send_q
    return None


def body(args, checks):
    sd = args.sockdoctor
    before = netstat_counter("ListenOverflows")
    with Holder("sd-deaf", DEAF) as deaf:
        port = deaf.info["port"]
        clients = []
        try:
            for _ in range(CLIENTS):
                c = socket.socket()
                c.setblocking(False)
                c.connect_ex(("127.0.0.1", port))  # later SYNs are dropped: do not wait for them
                clients.append(c)
                time.sleep(0.1)
            time.sleep(1.0)
            queue = listener_queue(port)
            checks.check(queue is not None and queue[0] >= queue[1] and queue[0] > 0,
                         "ss shows the accept queue full", str(queue))
            overflows = netstat_counter("ListenOverflows") - before
            checks.check(overflows > 0, "ListenOverflows grew", f"grew by {overflows}")

            rc, doc, raw, err = sockdoctor_check(sd)
            full = findings(doc, "listen_queue_full")
            checks.equal(rc, 2, "exit status 2 (CRITICAL)")
            if not checks.equal(len(full), 1, "one listen_queue_full finding"):
                print(raw[:4000], err)
                return
            f = full[0]
            checks.equal(f["severity"], "critical", "severity critical")
            checks.equal((f["process"] or {}).get("pid"), deaf.pid, "names the listener's PID")
            checks.equal((f["process"] or {}).get("comm"), "sd-deaf", "and its comm")
            checks.equal(f["evidence"].get("listener"), f"127.0.0.1:{port}", "names the listener")
            checks.check(f["evidence"].get("listen_overflows", 0) >= overflows,
                         "reports the ListenOverflows counter", str(f["evidence"]))
            checks.check(f["evidence"].get("unaccepted_established", 0) >= 1,
                         "counts the unaccepted connections", str(f["evidence"]))

            rc, out, err = sockdoctor_text(sd)
            checks.check(f"pid {deaf.pid} (sd-deaf) does not accept connections on 127.0.0.1:{port}"
                         in out, "the text report names the listener", out[:3000])
            print(f"measured: queue {queue}, ListenOverflows +{overflows}", flush=True)
        finally:
            for c in clients:
                c.close()


if __name__ == "__main__":
    harness.main_wrapper("check_listen_queue", body)
