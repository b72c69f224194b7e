#!/usr/bin/env python3
"""Real loopback TCP sockets in every state a stuck-socket tool must understand.

Importable (`StateFarm`) and runnable (`python3 statefarm.py --hold SECONDS`). Everything happens
in the CURRENT network namespace, on 127.0.0.1 and ::1 only: the caller must already be in a
private namespace (harness.in_private_netns() makes one; the CLI refuses the init namespace
unless told otherwise, or makes its own with --unshare).

How each state is made (kernel behaviour as in shared/research/kernel-facts.md):
  LISTEN       a listener held by "sd-listener"; a second one with listen(0) held by "sd-backlog".
  SYN_SENT     after one connection fills the listen(0) accept queue, the next client's SYN is
               dropped (LISTENOVERFLOWS) and the client stays in SYN_SENT; the queued child is an
               ESTABLISHED socket with no owner (inode 0, never accepted).
  FIN_WAIT1    the FIN is queued behind data the peer never reads (its receive buffer is full,
               the window is zero): shutdown(SHUT_WR) keeps an owner, close() makes an orphan.
  LAST_ACK     same trick in the other direction; the passive closer reads everything up to EOF
               first, because close() with unread data sends RST instead of FIN.
  FIN_WAIT2    orphaned: close() after which the peer never closes -> FIN_WAIT2 mini-socket with
               the timewait timer (tcp_fin_timeout, 60 s by default), no owner. Half-closed:
               shutdown(SHUT_WR) with the fd kept -> owned, no timer.
  TIME_WAIT    both close, the active side first (60 s; count exactly with tcp_rfc1337=1).
  CLOSE_WAIT   the peers of the FIN_WAIT2 sockets, held by "sd-leaker" who never closes.
  shared       one ESTABLISHED socket held by "sd-forker" and its fork child "sd-forkchild".

Holders are separate processes (this file re-executed with --holder) that get exactly their fds
(same numbers), set their name with prctl(PR_SET_NAME) and die with their parent
(PR_SET_PDEATHSIG) or after their hold time. They are killed by PID on every exit path.
"""

from __future__ import annotations

import argparse
import atexit
import ctypes
import errno
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

MAX_HOLD_SECONDS = 120.0
TW_LIFETIME_SECONDS = 60.0  # TCP_TIMEWAIT_LEN; also the default tcp_fin_timeout for FIN_WAIT2 orphans
PR_SET_NAME = 15
PR_SET_PDEATHSIG = 1
FILL_CAP_BYTES = 64 << 20  # bounded send loop when filling a peer's window
SMALL_RCVBUF = 16384       # the kernel doubles it; keeps "the peer's buffer is full" quick and sure
BIG_SNDBUF = 262144        # far more than the peer can take, so the FIN stays queued

FAMILIES = {"ipv4": (socket.AF_INET, "127.0.0.1", "0.0.0.0"), "ipv6": (socket.AF_INET6, "::1", "::")}


class FarmError(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------------
# ss parsing (shared with harness.py)

_SS_STATE = {
    "estab": "established", "syn-sent": "syn_sent", "syn-recv": "syn_recv",
    "fin-wait-1": "fin_wait1", "fin-wait-2": "fin_wait2", "time-wait": "time_wait",
    "unconn": "close", "close": "close", "close-wait": "close_wait", "last-ack": "last_ack",
    "listen": "listen", "closing": "closing", "new-syn-recv": "syn_recv",
}
_SS_TIMER = re.compile(r'timer:\((\w+),')
_SS_USER = re.compile(r'\("((?:[^"\\]|\\.)*)",pid=(\d+),fd=(\d+)\)')


def ss_state_name(word: str) -> str:
    """ss state column ("CLOSE-WAIT", "ESTAB") -> snake_case ("close_wait", "established")."""
    w = word.lower()
    if w not in _SS_STATE:
        raise FarmError(f"unknown ss state {word!r}")
    return _SS_STATE[w]


def split_endpoint(text: str) -> tuple[str, int]:
    """"127.0.0.1:80" / "[::1]:80" / "0.0.0.0:*" / "[::ffff:1.2.3.4]:5" -> (addr, port)."""
    host, _, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host = host.split("%", 1)[0]  # "127.0.0.1%lo" when bound to a device
    if host == "*":
        host = ""
    return host, 0 if port == "*" else int(port)


def family_of(addr: str) -> str:
    return "ipv6" if ":" in addr else "ipv4"


def sock_key(family: str, local: tuple[str, int], peer: tuple[str, int]) -> tuple:
    """Identity of a socket in one namespace: family + both endpoints (wildcards normalised)."""
    def norm(ep):
        addr, port = ep
        if addr in ("", "*"):
            addr = "::" if family == "ipv6" else "0.0.0.0"
        return (addr, int(port))
    return (family, norm(local), norm(peer))


@dataclass
class SsSocket:
    family: str
    state: str
    recv_q: int
    send_q: int
    local: tuple[str, int]
    peer: tuple[str, int]
    owners: frozenset = frozenset()  # {(pid, comm, fd)}; only from `ss -p`
    timer: str = ""                  # off/on/keepalive/timewait/persist; only from `ss -o`

    @property
    def key(self) -> tuple:
        return sock_key(self.family, self.local, self.peer)


def parse_ss(text: str) -> list[SsSocket]:
    """Parses `ss -tanH` output, with -p (users:) and -o (timer:) if given."""
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split(None, 5)
        if len(parts) < 5:
            raise FarmError(f"unparsable ss line: {line!r}")
        local, peer = split_endpoint(parts[3]), split_endpoint(parts[4])
        owners, timer = frozenset(), "off"
        if len(parts) == 6:
            owners = frozenset((int(pid), comm.replace('\\"', '"').replace("\\\\", "\\"), int(fd))
                               for comm, pid, fd in _SS_USER.findall(parts[5]))
            m = _SS_TIMER.search(parts[5])
            timer = m.group(1) if m else "off"
        out.append(SsSocket(family_of(local[0] or peer[0]), ss_state_name(parts[0]), int(parts[1]),
                            int(parts[2]), local, peer, owners, timer))
    return out


def run_ss(with_owners: bool = False, extra: tuple = (), timers: bool = False) -> list[SsSocket]:
    args = ["ss", "-tanpH" if with_owners else "-tanH", *(["-o"] if timers else []), *extra]
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if r.returncode != 0:
        raise FarmError(f"{' '.join(args)} exited {r.returncode}: {r.stderr.decode(errors='replace')}")
    return parse_ss(r.stdout.decode("utf-8", errors="surrogateescape"))


# ---------------------------------------------------------------------------------------------
# Holder processes

_libc = None


def _prctl(option: int, arg) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.prctl(option, arg, 0, 0, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"prctl({option}): {os.strerror(e)}")


def set_process_name(name: bytes) -> None:
    """PR_SET_NAME: what /proc/PID/comm and ss show (the kernel keeps 15 bytes)."""
    _prctl(PR_SET_NAME, ctypes.c_char_p(name[:15]))


def _die_with_parent(expected_parent: int) -> None:
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != expected_parent:  # the parent died before we asked to follow it
        os._exit(1)


def _holder_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="statefarm.py --holder")
    p.add_argument("--holder", required=True)
    p.add_argument("--parent", type=int, required=True)
    p.add_argument("--ready-fd", type=int, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--fds", default="")
    p.add_argument("--fork-child", default="")
    p.add_argument("rest", nargs="*")  # extra argv, only there to be seen in /proc/PID/cmdline
    a = p.parse_args(argv)
    _die_with_parent(a.parent)
    deadline = time.monotonic() + min(a.seconds, MAX_HOLD_SECONDS + 30)
    for fd in filter(None, a.fds.split(",")):
        os.fstat(int(fd))  # fail now, visibly, if a socket did not arrive
    me = os.getpid()
    if a.fork_child:
        child = os.fork()
        if child == 0:
            try:
                _die_with_parent(me)
                set_process_name(os.fsencode(a.fork_child))
                os.write(a.ready_fd, f"C {os.getpid()}\n".encode())
                os.close(a.ready_fd)
                _sleep_until(deadline)
            finally:
                os._exit(0)
    set_process_name(os.fsencode(a.holder))
    os.write(a.ready_fd, f"R {me}\n".encode())
    os.close(a.ready_fd)
    _sleep_until(deadline)
    return 0


def _sleep_until(deadline: float) -> None:
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 1.0))


@dataclass
class Holder:
    name: str
    pid: int
    fds: list[int]
    proc: subprocess.Popen
    child_name: str = ""
    child_pid: int = 0  # the fork child of a sharing holder; killed by PID too
    comm: bytes = b""   # what /proc/PID/comm holds: the name's first 15 bytes

    def pids(self) -> list[int]:
        return [p for p in (self.pid, self.child_pid) if p]


# ---------------------------------------------------------------------------------------------
# The farm

@dataclass
class FarmSocket:
    label: str                      # "ipv4/close_wait/hc", ...
    family: str                     # "ipv4" | "ipv6"
    state: str                      # expected snake_case state
    local: tuple[str, int]
    peer: tuple[str, int]
    holders: list[str] = field(default_factory=list)  # holder names; empty = no owner
    fd: int = -1                    # fd number in every holder (pass_fds keeps numbers)
    owners: frozenset = frozenset() # {(pid, comm, fd)} once the holders run
    expires_at: float | None = None # time.monotonic() when the kernel will free it (TW, FW2 orphan)

    @property
    def key(self) -> tuple:
        return sock_key(self.family, self.local, self.peer)

    @property
    def pid(self) -> int | None:
        """The (lowest) owning pid, None for a socket no process holds."""
        return min(p for p, _, _ in self.owners) if self.owners else None

    def to_json(self) -> dict:
        return {"label": self.label, "family": self.family, "state": self.state,
                "local": {"addr": self.local[0], "port": self.local[1]},
                "peer": {"addr": self.peer[0], "port": self.peer[1]},
                "owners": [{"pid": p, "comm": c, "fd": f} for p, c, f in sorted(self.owners)]}


_live_farms: list["StateFarm"] = []
_handlers_installed = False


def _cleanup_all() -> None:
    for farm in list(_live_farms):
        farm.close()


def _on_signal(signum, _frame) -> None:
    _cleanup_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_cleanup() -> None:
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(_cleanup_all)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        if signal.getsignal(sig) in (signal.SIG_DFL, signal.default_int_handler):
            signal.signal(sig, _on_signal)


class StateFarm:
    """Builds the sockets, hands them to holder processes, and waits until ss agrees.

    with StateFarm() as farm:
        for s in farm.sockets: print(s.state, s.local, s.peer, s.pid)
    """

    def __init__(self, families=None, hold_seconds: float = MAX_HOLD_SECONDS, timeout: float = 10.0,
                 full: bool = True, allow_shared_netns: bool = False):
        if not allow_shared_netns and not in_loopback_only_netns():
            raise FarmError(f"refusing to build sockets in a namespace with {netns_interfaces()}: "
                            "run inside a private one (unshare -n), or pass allow_shared_netns=True")
        self.families = list(families) if families is not None else available_families()
        if not self.families:
            raise FarmError("neither 127.0.0.1 nor ::1 can be bound: is lo up?")
        self.hold_seconds = min(float(hold_seconds), MAX_HOLD_SECONDS)
        self.timeout = timeout
        self.full = full  # False: build() makes nothing; the caller adds sockets, then start_holders()
        self.holder_options: dict[str, dict] = {}  # name -> extra spawn_holder() keyword arguments
        self.sockets: list[FarmSocket] = []
        self.holders: dict[str, Holder] = {}
        self._open: list[socket.socket] = []   # our copies; all closed once the holders have them
        self._hand: dict[str, list[socket.socket]] = {}
        self._closed = False
        self.started_at = time.monotonic()
        _install_cleanup()
        _live_farms.append(self)

    # -- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> "StateFarm":
        try:
            self.build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def build(self) -> None:
        if self.full:
            for fam in self.families:
                self._build_family(fam)
        self.start_holders()

    def start_holders(self) -> None:
        """Hands every socket given with keep() to its holders, closes our copies, and waits until
        ss shows every socket in its expected state. May be called again after adding more."""
        for name, socks in self._hand.items():
            opts = dict(self.holder_options.get(name, {}))
            opts.setdefault("fork_child", "sd-forkchild" if name == "sd-forker" else "")
            self.spawn_holder(name, [s.fileno() for s in socks], **opts)
        self._close_our_copies()
        for s in self.sockets:
            owners = set()
            for hname in s.holders:
                h = self.holders[hname]
                owners.add((h.pid, os.fsdecode(h.comm), s.fd))
                if h.child_pid:
                    owners.add((h.child_pid, h.child_name, s.fd))
            s.owners = frozenset(owners)
        self.wait_for_states()

    def close(self) -> None:
        """Kills every holder by PID (idempotent, safe from atexit and signal handlers)."""
        if self._closed:
            return
        self._closed = True
        for h in self.holders.values():
            for pid in h.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for h in self.holders.values():
            try:
                h.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self._close_our_copies()
        if self in _live_farms:
            _live_farms.remove(self)

    def _close_our_copies(self) -> None:
        for s in self._open:
            s.close()
        self._open.clear()
        self._hand.clear()

    # -- holders --------------------------------------------------------------------------
    def spawn_holder(self, name: str, fds: list[int], fork_child: str = "", extra_argv=(),
                     name_bytes: bytes | None = None) -> Holder:
        """Starts a process that holds fds (same numbers) under the name given.

        name_bytes (its comm, default the name's bytes) and extra_argv (appended to its command
        line) let a test put arbitrary bytes, e.g. terminal escapes, where a tool will print them.
        """
        name_bytes = os.fsencode(name) if name_bytes is None else name_bytes
        rd, wr = os.pipe()
        argv = [sys.executable, os.path.abspath(__file__), "--holder", os.fsdecode(name_bytes),
                "--parent", str(os.getpid()), "--ready-fd", str(wr),
                # The farm kills its holders by PID; their own deadline is only a backstop.
                "--seconds", str(self.hold_seconds + 2 * self.timeout + 30),
                "--fds", ",".join(map(str, fds))]
        if fork_child:
            argv += ["--fork-child", fork_child]
        argv += ["--", *extra_argv]
        try:
            proc = subprocess.Popen(argv, pass_fds=[*fds, wr], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL)
        finally:
            os.close(wr)
        holder = Holder(name, proc.pid, list(fds), proc, child_name=fork_child, comm=name_bytes[:15])
        self.holders[name] = holder
        try:
            self._await_ready(rd, holder)
        finally:
            os.close(rd)
        return holder

    def _await_ready(self, rd: int, h: Holder) -> None:
        want = {"R"} | ({"C"} if h.child_name else set())
        buf = b""
        deadline = time.monotonic() + self.timeout
        while want:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([rd], [], [], left)[0]:
                raise FarmError(f"holder {h.name!r} (pid {h.pid}) not ready within {self.timeout} s")
            chunk = os.read(rd, 256)
            if not chunk:
                raise FarmError(f"holder {h.name!r} (pid {h.pid}) exited early: rc={h.proc.poll()}")
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                tag, pid = line.decode().split()
                if tag == "C":
                    h.child_pid = int(pid)
                want.discard(tag)

    def _give(self, holder: str, sock: socket.socket) -> None:
        self._hand.setdefault(holder, []).append(sock)

    # -- sockets --------------------------------------------------------------------------
    def _new(self, fam: str) -> socket.socket:
        s = socket.socket(FAMILIES[fam][0], socket.SOCK_STREAM)
        self._open.append(s)
        return s

    def listener(self, fam: str, backlog: int, rcvbuf: int = 0) -> socket.socket:
        s = self._new(fam)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # inherited by accepted sockets
        s.bind((FAMILIES[fam][1], 0))
        s.listen(backlog)
        s.settimeout(self.timeout)
        return s

    def pair(self, fam: str, listener: socket.socket, client_rcvbuf: int = 0):
        c = self._new(fam)
        if client_rcvbuf:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, client_rcvbuf)
        c.settimeout(self.timeout)
        c.connect(listener.getsockname()[:2])
        srv, _ = listener.accept()
        self._open.append(srv)
        srv.settimeout(self.timeout)
        return c, srv

    def _fill(self, sender: socket.socket) -> int:
        """Sends until the kernel refuses more: the peer's window is closed, our queue is full."""
        sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BIG_SNDBUF)
        sender.setblocking(False)
        chunk, sent, idle_rounds = b"x" * 65536, 0, 0
        deadline = time.monotonic() + self.timeout
        while sent < FILL_CAP_BYTES and time.monotonic() < deadline:
            try:
                sent += sender.send(chunk)
                idle_rounds = 0
            except BlockingIOError:
                idle_rounds += 1
                if idle_rounds >= 3:  # refused three times 20 ms apart: the pipe is full
                    break
                time.sleep(0.02)
        sender.settimeout(self.timeout)
        if idle_rounds < 3:
            raise FarmError(f"could not fill the peer's receive window ({sent} bytes sent)")
        return sent

    def _record(self, label, fam, state, sock_or_eps, holders=(), fd=-1, expires=False, peer=None) -> FarmSocket:
        if isinstance(sock_or_eps, socket.socket):
            local = sock_or_eps.getsockname()[:2]
            if peer is None:
                try:
                    peer = sock_or_eps.getpeername()[:2]
                except OSError:  # a listener
                    peer = (FAMILIES[fam][2], 0)
            fd = sock_or_eps.fileno()
        else:
            local, peer = sock_or_eps
        fs = FarmSocket(f"{fam}/{state}/{label}", fam, state, tuple(local), tuple(peer), list(holders), fd,
                        expires_at=time.monotonic() + TW_LIFETIME_SECONDS if expires else None)
        self.sockets.append(fs)
        return fs

    def keep(self, label, fam, state, sock, *holders, peer=None) -> None:
        self._record(label, fam, state, sock, holders, peer=peer)
        for h in holders:
            self._give(h, sock)

    def _orphan(self, label, fam, state, sock, expires=False) -> None:
        eps = (sock.getsockname()[:2], sock.getpeername()[:2])
        self._open.remove(sock)
        sock.close()  # no other process has this fd yet, so this orphans the socket
        self._record(label, fam, state, eps, expires=expires)

    def _build_family(self, fam: str) -> None:
        lst = self.listener(fam, 64, rcvbuf=SMALL_RCVBUF)
        self.keep("main", fam, "listen", lst, "sd-listener")

        c, s = self.pair(fam, lst)
        self.keep("plain", fam, "established", c, "sd-client")
        self.keep("plain", fam, "established", s, "sd-server")

        c, s = self.pair(fam, lst)
        self.keep("shared-peer", fam, "established", c, "sd-client")
        self.keep("shared", fam, "established", s, "sd-forker")

        # FIN_WAIT1: the client's FIN waits behind data the server never reads.
        for label, keep in (("fw1", True), ("fw1-orphan", False)):
            c, s = self.pair(fam, lst)
            self._fill(c)
            if keep:
                c.shutdown(socket.SHUT_WR)
                self.keep(label, fam, "fin_wait1", c, "sd-client")
            else:
                self._orphan(label, fam, "fin_wait1", c)
            self.keep(label + "-peer", fam, "established", s, "sd-server")

        # LAST_ACK: the server's FIN waits behind data the client never reads.
        for label, keep in (("la", True), ("la-orphan", False)):
            c, s = self.pair(fam, lst, client_rcvbuf=SMALL_RCVBUF)
            self._fill(s)
            c.shutdown(socket.SHUT_WR)
            self._read_to_eof(s)
            if keep:
                s.shutdown(socket.SHUT_WR)
                self.keep(label, fam, "last_ack", s, "sd-server")
            else:
                self._orphan(label, fam, "last_ack", s)
            self.keep(label + "-peer", fam, "fin_wait2", c, "sd-client")

        # FIN_WAIT2 half-closed (owned, no timer) and orphaned (mini-socket); peers in CLOSE_WAIT.
        c, s = self.pair(fam, lst)
        c.shutdown(socket.SHUT_WR)
        self._read_to_eof(s)
        self.keep("half-closed", fam, "fin_wait2", c, "sd-client")
        self.keep("half-closed-peer", fam, "close_wait", s, "sd-leaker")
        c, s = self.pair(fam, lst)
        self._orphan("orphan", fam, "fin_wait2", c, expires=True)
        self._read_to_eof(s)
        self.keep("orphan-peer", fam, "close_wait", s, "sd-leaker")

        # TIME_WAIT: the client closes first, the server closes after reading EOF.
        c, s = self.pair(fam, lst)
        self._orphan("tw", fam, "time_wait", c, expires=True)
        self._read_to_eof(s)
        self._open.remove(s)
        s.close()

        # SYN_SENT: a listen(0) queue holding one unaccepted child drops the next SYN.
        blk = self.listener(fam, 0)
        self.keep("backlog", fam, "listen", blk, "sd-backlog")
        c1 = self._new(fam)
        c1.settimeout(self.timeout)
        c1.connect(blk.getsockname()[:2])
        self.keep("queued", fam, "established", c1, "sd-client")
        self._record("queued-child", fam, "established", (blk.getsockname()[:2], c1.getsockname()[:2]))
        self._await_ss(lambda socks: any(x.key == sock_key(fam, blk.getsockname()[:2], (FAMILIES[fam][2], 0))
                                         and x.recv_q == 1 for x in socks), "listen(0) queue holds one child")
        c2 = self._new(fam)
        c2.setblocking(False)
        rc = c2.connect_ex(blk.getsockname()[:2])
        if rc != errno.EINPROGRESS:
            raise FarmError(f"non-blocking connect to the full listener returned {errno.errorcode.get(rc, rc)}")
        self.keep("dropped-syn", fam, "syn_sent", c2, "sd-client", peer=blk.getsockname()[:2])

    def _read_to_eof(self, s: socket.socket) -> None:
        s.settimeout(self.timeout)
        total = 0
        while total < FILL_CAP_BYTES:
            data = s.recv(65536)  # socket.timeout if the FIN never comes: loud failure
            if not data:
                return
            total += len(data)
        raise FarmError("peer kept sending instead of closing")

    # -- verification ---------------------------------------------------------------------
    def _await_ss(self, pred, what: str) -> list[SsSocket]:
        deadline = time.monotonic() + self.timeout
        while True:
            socks = run_ss()
            if pred(socks):
                return socks
            if time.monotonic() > deadline:
                raise FarmError(f"timed out after {self.timeout} s waiting for: {what}")
            time.sleep(0.05)

    def mismatches(self, socks: list[SsSocket]) -> list[str]:
        by_key = {x.key: x for x in socks}
        bad = []
        for s in self.sockets:
            got = by_key.get(s.key)
            if got is None:
                bad.append(f"{s.label} {s.local}->{s.peer}: missing (expected {s.state})")
            elif got.state != s.state:
                bad.append(f"{s.label} {s.local}->{s.peer}: {got.state}, expected {s.state}")
        return bad

    def wait_for_states(self) -> list[SsSocket]:
        """Polls `ss -tanH` until every socket is in its expected state; FarmError otherwise."""
        deadline = time.monotonic() + self.timeout
        while True:
            socks = run_ss()
            bad = self.mismatches(socks)
            if not bad:
                return socks
            if time.monotonic() > deadline:
                raise FarmError("kernel did not reach the expected states within "
                                f"{self.timeout} s:\n  " + "\n  ".join(bad))
            time.sleep(0.05)

    def seconds_left(self) -> float:
        """Until the first TIME_WAIT / orphaned FIN_WAIT2 disappears or the holders give up."""
        ends = [s.expires_at for s in self.sockets if s.expires_at] + [self.started_at + self.hold_seconds]
        return min(ends) - time.monotonic()

    def by_state(self, state: str) -> list[FarmSocket]:
        return [s for s in self.sockets if s.state == state]


def available_families() -> list[str]:
    fams = []
    for fam, (af, addr, _) in FAMILIES.items():
        try:
            with socket.socket(af, socket.SOCK_STREAM) as s:
                s.bind((addr, 0))
            fams.append(fam)
        except OSError:
            pass
    return fams


# ---------------------------------------------------------------------------------------------
# CLI

def netns_interfaces() -> list[str]:
    """Interfaces of the current network namespace (/proc/self/net/dev is per namespace)."""
    with open("/proc/self/net/dev") as f:
        return [line.split(":", 1)[0].strip() for line in f.readlines()[2:] if ":" in line]


def in_loopback_only_netns() -> bool:
    """True in a namespace made for tests: nothing but lo, so no packet can leave the host."""
    return netns_interfaces() == ["lo"]


def main(argv: list[str]) -> int:
    if argv[:1] == ["--holder"]:
        return _holder_main(argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hold", type=float, default=30.0, help=f"seconds to keep the sockets (max {MAX_HOLD_SECONDS:g})")
    p.add_argument("--unshare", action="store_true", help="re-run inside a new network namespace (unshare -n)")
    p.add_argument("--allow-shared-netns", action="store_true",
                   help="run even in a namespace with more than lo (sockets still bind loopback only)")
    p.add_argument("--json", action="store_true", help="print the sockets as one JSON document")
    a = p.parse_args(argv)
    if a.unshare and os.environ.get("SD_STATEFARM_UNSHARED") != "1":
        env = dict(os.environ, SD_STATEFARM_UNSHARED="1")
        args = ["unshare", "-n", "--", sys.executable, os.path.abspath(__file__), *argv]
        os.execvpe("unshare", args, env)
    if os.environ.get("SD_STATEFARM_UNSHARED") == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        with open("/proc/sys/net/ipv4/tcp_rfc1337", "w") as f:
            f.write("1\n")
    if not in_loopback_only_netns() and not a.allow_shared_netns:
        print(f"statefarm: this network namespace has {netns_interfaces()}, not only lo; "
              "use --unshare, `unshare -n`, or --allow-shared-netns", file=sys.stderr)
        return 64
    with StateFarm(hold_seconds=a.hold, allow_shared_netns=a.allow_shared_netns) as farm:
        if a.json:
            print(json.dumps({"pid": os.getpid(), "sockets": [s.to_json() for s in farm.sockets]}, indent=1))
        else:
            for s in farm.sockets:
                owners = ",".join(f"{p}/{c}/fd{f}" for p, c, f in sorted(s.owners)) or "-"
                print(f"{s.state:12} {s.local[0]}:{s.local[1]:<6} {s.peer[0]}:{s.peer[1]:<6} {owners:40} {s.label}")
            print(f"statefarm: ready in netns of pid {os.getpid()} "
                  f"(nsenter --net=/proc/{os.getpid()}/ns/net ...); holding {farm.hold_seconds:g} s", flush=True)
        sys.stdout.flush()
        _sleep_until(farm.started_at + farm.hold_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
