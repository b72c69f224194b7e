#!/usr/bin/env python3
"""`sockdoctor check` predicts ephemeral-port exhaustion before connect() fails.

In a private namespace with ip_local_port_range 40000-40199 (200 ports) and tcp_tw_reuse=0,
this process opens and closes (first) connections to two listeners: every close leaves a 60 s
TIME_WAIT that blocks its 4-tuple. 120 closes toward :8081 (60% of the ports) must give a
warning for that destination; 184 toward :8080 (92%) a critical one and exit status 2. Then we
keep connecting to :8080 until connect() really fails with EADDRNOTAVAIL, which proves the
prediction was right and came first. Everything must happen within one TIME_WAIT lifetime."""

import errno
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "check"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from holders import findings, sockdoctor_check, write_sysctl  # noqa: E402

LOW, HIGH = 40000, 40199
PORTS = HIGH - LOW + 1
CRIT_PORT, CRIT_AT = 8080, 184  # 92% of the range
WARN_PORT, WARN_AT = 8081, 120  # 60%
TOO_SLOW = 50  # seconds: past this, TIME_WAIT entries may expire under us (they live 60 s)


class Server(threading.Thread):
    """Accepts, reads to EOF, closes: the client always closes first, so TIME_WAIT is ours."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(512)
        self.sock.settimeout(0.5)
        self.stopping = False

    def run(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            c.settimeout(5)
            try:
                while c.recv(4096):
                    pass
            except OSError as e:
                print(f"server: recv: {e}", flush=True)
            c.close()


def connect_close(port) -> None:
    c = socket.socket()
    try:
        c.connect(("127.0.0.1", port))
        c.shutdown(socket.SHUT_WR)
        c.recv(1)  # wait for the server's FIN, so our side ends in TIME_WAIT, not FIN_WAIT2
    finally:
        c.close()


def time_wait_toward(port) -> int:
    return sum(1 for s in harness.run_ss(False) if s.state == "time_wait" and s.peer[1] == port)


def wait_time_wait(port, n) -> int:
    deadline = time.monotonic() + 10
    count = time_wait_toward(port)
    while count < n and time.monotonic() < deadline:
        time.sleep(0.1)
        count = time_wait_toward(port)
    return count


def toward(doc, port):
    return [f for f in findings(doc, "ephemeral_port_exhaustion")
            if f.get("peer") == f"127.0.0.1:{port}"]


def too_slow(started, what):
    elapsed = time.monotonic() - started
    if elapsed > TOO_SLOW:
        harness.skip(f"machine too slow: {what} took {elapsed:.0f} s, TIME_WAIT entries "
                     "may have expired (they live 60 s)")


def body(args, checks):
    sd = args.sockdoctor
    write_sysctl("net.ipv4.ip_local_port_range", f"{LOW} {HIGH}")
    write_sysctl("net.ipv4.tcp_tw_reuse", "0")  # so reuse does not hide the exhaustion
    servers = [Server(CRIT_PORT), Server(WARN_PORT)]
    for s in servers:
        s.start()
    try:
        started = time.monotonic()
        for _ in range(CRIT_AT):
            connect_close(CRIT_PORT)
        for _ in range(WARN_AT):
            connect_close(WARN_PORT)
        checks.equal(wait_time_wait(CRIT_PORT, CRIT_AT), CRIT_AT, f"{CRIT_AT} TIME_WAIT toward :{CRIT_PORT}")
        checks.equal(wait_time_wait(WARN_PORT, WARN_AT), WARN_AT, f"{WARN_AT} TIME_WAIT toward :{WARN_PORT}")

        # No owners needed here (TIME_WAIT has none), and skipping the /proc scan keeps us fast.
        rc, doc, raw, err = sockdoctor_check(sd, "--no-owners")
        too_slow(started, "making the connections and running check")
        checks.equal(rc, 2, "exit status 2 (CRITICAL)")
        crit, warn = toward(doc, CRIT_PORT), toward(doc, WARN_PORT)
        if not (checks.equal(len(crit), 1, f"a finding for :{CRIT_PORT}")
                and checks.equal(len(warn), 1, f"a finding for :{WARN_PORT}")):
            print(raw[:6000], err)
            return
        f = crit[0]
        checks.equal(f["severity"], "critical", f"critical at {CRIT_AT}/{PORTS} ports")
        checks.check("EADDRNOTAVAIL" in f["title"], "the title predicts EADDRNOTAVAIL", f["title"])
        checks.equal(f["evidence"].get("usable_ports"), PORTS, "usable ports = the narrowed range")
        checks.equal(f["evidence"].get("time_wait"), CRIT_AT, "counts the TIME_WAIT entries")
        checks.equal(f["evidence"].get("tw_reuse_applies"), False, "tcp_tw_reuse=0 does not apply")
        checks.equal(f["evidence"].get("block_seconds"), 60, "a closed 4-tuple blocks for 60 s")
        checks.equal(warn[0]["severity"], "warning", f"warning at {WARN_AT}/{PORTS} ports")

        # Now prove it: connect until the kernel runs out of ports for this destination.
        made, failed_with = CRIT_AT, None
        for _ in range(PORTS):
            try:
                connect_close(CRIT_PORT)
                made += 1
            except OSError as e:
                failed_with = e.errno
                break
        too_slow(started, "the whole run")
        print(f"measured: connect() #{made + 1} to :{CRIT_PORT} failed (errno {failed_with}) after "
              f"{made} successful connections, {time.monotonic() - started:.1f} s after the first",
              flush=True)
        checks.equal(failed_with, errno.EADDRNOTAVAIL, "connect() then fails with EADDRNOTAVAIL")
        checks.check(CRIT_AT < made <= PORTS, f"after at most {PORTS} connections", f"made {made}")
    finally:
        for s in servers:
            s.stopping = True
        for s in servers:
            s.join(timeout=5)
            s.sock.close()


if __name__ == "__main__":
    harness.main_wrapper("check_time_wait", body)
