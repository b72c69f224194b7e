#!/usr/bin/env python3
"""Measures what SOCK_DESTROY does to a TCP socket in each state on the running kernel.

    python3 tests/tools/kill_states.py --sockdoctor build/dev/src/sockdoctor

Re-runs itself in a private network namespace (loopback only, like every test), builds one IPv4
socket per case in this process (so it can also play the owner and the peer), destroys it with
tests/tools/destroy_one (the path `sockdoctor kill --yes` takes), and records: the outcome, whether
a RST left (Tcp OutRsts of the namespace), what the owner's next poll/recv/send return, whether its
fd is still open, and what the peer sees. Prints a markdown table (docs/kernel-behaviour.md) and
then one JSON line; the integration test kill_states_test.py asserts the stable parts.
"""

from __future__ import annotations

import errno
import json
import os
import select
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402

SMALL_RCVBUF = 16384
TIMEOUT = 10.0
TCP_DEFER_ACCEPT = 9


def out_rsts() -> int:
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Tcp:")]
    return int(rows[1][rows[0].index("OutRsts")])


def fill(sender: socket.socket) -> None:
    """Sends until the peer's window is closed and our queue is full (bounded)."""
    sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 262144)
    sender.setblocking(False)
    idle, sent, deadline = 0, 0, time.monotonic() + TIMEOUT
    while idle < 3 and sent < (64 << 20) and time.monotonic() < deadline:
        try:
            sent += sender.send(b"x" * 65536)
            idle = 0
        except BlockingIOError:
            idle += 1
            time.sleep(0.02)
    sender.settimeout(TIMEOUT)
    if idle < 3:
        raise RuntimeError("could not fill the peer's window")


def read_to_eof(s: socket.socket) -> None:
    s.settimeout(TIMEOUT)
    total = 0
    while total < (64 << 20):
        data = s.recv(65536)
        if not data:
            return
        total += len(data)
    raise RuntimeError("peer never closed")


def err_name(e: OSError) -> str:
    return errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__


def try_op(fn) -> str:
    try:
        r = fn()
        return "0 (EOF)" if r == b"" else f"ok {len(r) if isinstance(r, bytes) else r}"
    except (BlockingIOError, TimeoutError):  # TimeoutError: MSG_DONTWAIT on a socket with a timeout
        return "EAGAIN"
    except OSError as e:
        return err_name(e)


def so_error(s: socket.socket) -> str:
    code = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    return "SO_ERROR " + (errno.errorcode.get(code, str(code)) if code else "0")


def poll_events(s: socket.socket) -> str:
    p = select.poll()
    p.register(s, select.POLLIN | select.POLLOUT | select.POLLERR | select.POLLHUP | 0x2000)
    ev = dict(p.poll(0)).get(s.fileno(), 0)
    names = [(select.POLLIN, "IN"), (select.POLLOUT, "OUT"), (select.POLLERR, "ERR"),
             (select.POLLHUP, "HUP"), (0x2000, "RDHUP")]
    return ",".join(n for bit, n in names if ev & bit) or "-"


class Lab:
    def __init__(self, sd: str, tool: str):
        self.sd, self.tool, self.keep = sd, tool, []

    def listener(self, backlog: int = 16, rcvbuf: int = SMALL_RCVBUF) -> socket.socket:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.bind(("127.0.0.1", 0))
        s.listen(backlog)
        self.keep.append(s)
        return s

    def pair(self, lst: socket.socket, client_rcvbuf: int = 0):
        c = socket.socket()
        if client_rcvbuf:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, client_rcvbuf)
        c.settimeout(TIMEOUT)
        c.connect(lst.getsockname())
        s, _ = lst.accept()
        s.settimeout(TIMEOUT)
        self.keep += [c, s]
        return c, s

    def find(self, local, peer) -> dict | None:
        doc = json.loads(subprocess.run([self.sd, "ls", "--json", "--no-owners", "--port", str(local[1])],
                                        capture_output=True, text=True, check=True).stdout)
        for s in doc["sockets"]:
            if (s["local"]["addr"], s["local"]["port"]) == tuple(local) and \
               (s["peer"]["addr"], s["peer"]["port"]) == tuple(peer):
                return s
        return None

    def await_state(self, local, peer, state: str) -> dict:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            s = self.find(local, peer)
            if s and s["state"] == state:
                return s
            time.sleep(0.05)
        raise RuntimeError(f"{local}->{peer} never reached {state} (now {s and s['state']})")

    def destroy(self, local, peer, cookie: str) -> dict:
        r = subprocess.run([self.tool, f"{local[0]}:{local[1]}", f"{peer[0]}:{peer[1]}", cookie],
                           capture_output=True, text=True, timeout=30)
        if r.returncode not in (0, 1):
            raise RuntimeError(f"destroy_one: {r.stderr}")
        return json.loads(r.stdout)

    def case(self, name: str, state: str, local, peer, owner=None, peer_sock=None, owner_op=None) -> dict:
        info = self.await_state(local, peer, state)
        before = out_rsts()
        res = self.destroy(local, peer, info["cookie"])
        rsts = out_rsts() - before
        time.sleep(0.1)
        after = self.find(local, peer)
        row = {"case": name, "state": state, "outcome": res["outcome"], "errno": res["errno_name"] or "0",
               "rst_sent": rsts > 0, "socket_after": after["state"] if after else "gone"}
        if owner is not None:
            row["owner_poll"] = poll_events(owner)
            if owner_op:
                row["owner_first_call"] = owner_op(owner)
            else:
                row["owner_recv"] = try_op(lambda: owner.recv(10, socket.MSG_DONTWAIT))
                row["owner_send"] = try_op(lambda: owner.send(b"x", socket.MSG_DONTWAIT))
                row["owner_send_again"] = try_op(lambda: owner.send(b"x", socket.MSG_DONTWAIT))
            row["owner_fd_open"] = try_op(lambda: os.fstat(owner.fileno()) and b"x") != "EBADF"
        if peer_sock is not None:
            pl, pp = peer_sock.getsockname(), peer
            try:
                pp = peer_sock.getpeername()
            except OSError:
                pass
            ps = self.find(pl, pp)
            row["peer_state_after"] = ps["state"] if ps else "gone"
            row["peer_recv"] = try_op(lambda: peer_sock.recv(1 << 20, socket.MSG_DONTWAIT))
        return row


def build_and_measure(lab: Lab) -> list[dict]:
    rows = []
    lst = lab.listener()
    ends = lambda s: (s.getsockname(), s.getpeername())  # noqa: E731

    c, s = lab.pair(lst)
    rows.append(lab.case("established", "established", *ends(c), owner=c, peer_sock=s))

    c, s = lab.pair(lst)
    s.shutdown(socket.SHUT_WR)
    rows.append(lab.case("close_wait", "close_wait", *ends(c), owner=c, peer_sock=s))

    for orphan in (False, True):
        c, s = lab.pair(lst)
        fill(c)
        eps = ends(c)
        c.shutdown(socket.SHUT_WR)
        if orphan:
            c.close()
        rows.append(lab.case("fin_wait1 orphaned" if orphan else "fin_wait1 held", "fin_wait1", *eps,
                             owner=None if orphan else c, peer_sock=s))

    for orphan in (False, True):
        c, s = lab.pair(lst)
        eps = ends(c)
        if orphan:
            c.close()
        else:
            c.shutdown(socket.SHUT_WR)
        read_to_eof(s)
        rows.append(lab.case("fin_wait2 orphaned (timewait mini-socket)" if orphan else "fin_wait2 held",
                             "fin_wait2", *eps, owner=None if orphan else c, peer_sock=s))

    for orphan in (False, True):
        c, s = lab.pair(lst, client_rcvbuf=SMALL_RCVBUF)
        fill(s)
        c.shutdown(socket.SHUT_WR)
        read_to_eof(s)
        eps = ends(s)
        if orphan:
            s.close()
        else:
            s.shutdown(socket.SHUT_WR)
        rows.append(lab.case("last_ack orphaned" if orphan else "last_ack held", "last_ack", *eps,
                             owner=None if orphan else s, peer_sock=c))

    # CLOSING: both FINs wait behind data; c reads s's data and FIN while its own FIN is unsent.
    c, s = lab.pair(lst, client_rcvbuf=SMALL_RCVBUF)
    fill(c)
    fill(s)
    c.shutdown(socket.SHUT_WR)
    s.shutdown(socket.SHUT_WR)
    read_to_eof(c)
    rows.append(lab.case("closing held", "closing", *ends(c), owner=c, peer_sock=s))

    c, s = lab.pair(lst)
    eps = ends(c)
    c.close()
    read_to_eof(s)
    s.close()
    rows.append(lab.case("time_wait", "time_wait", *eps))

    # SYN_RECV: with TCP_DEFER_ACCEPT the bare final ACK is dropped and the request stays.
    dl = lab.listener()
    dl.setsockopt(socket.IPPROTO_TCP, TCP_DEFER_ACCEPT, 30)
    c = socket.socket()
    c.settimeout(TIMEOUT)
    c.connect(dl.getsockname())
    lab.keep.append(c)
    rows.append(lab.case("syn_recv (request socket)", "syn_recv", dl.getsockname(), c.getsockname(),
                         peer_sock=c))
    # The client believes it is connected: its first data finds no request socket.
    c.send(b"hello")
    time.sleep(0.2)
    rows[-1]["peer_recv_after_send"] = try_op(lambda: c.recv(10, socket.MSG_DONTWAIT))

    # SYN_SENT: a listen(0) queue holding one unaccepted child drops the next SYN.
    bl = lab.listener(backlog=0)
    c1 = socket.create_connection(bl.getsockname(), timeout=TIMEOUT)
    lab.keep.append(c1)
    time.sleep(0.2)
    c2 = socket.socket()
    c2.setblocking(False)
    c2.connect_ex(bl.getsockname())
    lab.keep.append(c2)
    rows.append(lab.case("syn_sent", "syn_sent", c2.getsockname(), bl.getsockname(), owner=c2,
                         owner_op=so_error))

    ll = lab.listener()
    ll.setblocking(False)
    rows.append(lab.case("listen", "listen", ll.getsockname(), ("0.0.0.0", 0), owner=ll,
                         owner_op=lambda o: try_op(lambda: o.accept())))
    return rows


def markdown(rows: list[dict]) -> str:
    out = ["| socket | result | RST sent | owner: poll / recv / send / send again | owner fd | peer afterwards |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        if "owner_poll" in r:
            calls = r.get("owner_first_call") or " / ".join(
                [r["owner_recv"], r["owner_send"], r["owner_send_again"]])
            owner = f"{r['owner_poll']} / {calls}"
            fd = "open" if r["owner_fd_open"] else "closed"
        else:
            owner, fd = "(no owner)", "-"
        peer = f"{r['peer_state_after']}, recv {r['peer_recv']}" if "peer_state_after" in r else "-"
        if "peer_recv_after_send" in r:
            peer += f"; after it sends, recv {r['peer_recv_after_send']}"
        out.append(f"| {r['case']} | {r['outcome']} ({r['errno']}) | {'yes' if r['rst_sent'] else 'no'} | "
                   f"{owner} | {fd} | {peer} |")
    return "\n".join(out)


def main() -> None:
    args = harness.parse_args("per-state SOCK_DESTROY measurement")
    harness.in_private_netns()
    tool = os.path.join(os.path.dirname(os.path.dirname(args.sockdoctor)), "tests", "destroy_one")
    if not os.access(tool, os.X_OK):
        harness.fail(f"{tool}: not built")
    lab = Lab(args.sockdoctor, tool)
    try:
        rows = build_and_measure(lab)
    finally:
        for s in lab.keep:
            s.close()
    print(f"kernel {os.uname().release}\n\n" + markdown(rows) + "\n")
    print(json.dumps({"kernel": os.uname().release, "rows": rows}))


if __name__ == "__main__":
    main()
