#!/usr/bin/env python3
"""A process that owns sockets for the trace tests and acts on command, so that each socket's
owner is a known pid and comm and each transition happens at a known CLOCK_BOOTTIME instant.

Run as `traceactor.py NAME` (NAME becomes its comm via prctl). One JSON command per stdin line,
one JSON reply per stdout line:
  {"op": "listen", "port": P}                 -> {"sock": "L1", "cookie": C}
  {"op": "connect", "port": P, "rcvbuf": N}   -> {"sock": "C1", "cookie": C, "local_port": p}
  {"op": "accept", "listener": "L1"}          -> {"sock": "A1", "cookie": C, "peer_port": p}
  {"op": "close" | "shutdown", "sock": S}     -> {"t0": BOOTTIME_SECONDS, "t": BOOTTIME_SECONDS}
                                                 (before and after the syscall: on a loaded box
                                                 the actor can be preempted on either side)
  {"op": "fill", "sock": S}                   -> {"bytes": N}  (send until the peer's window is full)
  {"op": "read_eof", "sock": S}               -> {"bytes": N}  (read everything up to EOF)
  {"op": "exit"}
The actor dies with its parent (PR_SET_PDEATHSIG) and after MAX_LIFE seconds in any case."""

import ctypes
import json
import os
import select
import signal
import socket
import sys
import time

MAX_LIFE = 150.0
SO_COOKIE = 57
FILL_CAP = 64 << 20


def boottime() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def cookie(s: socket.socket) -> int:
    return int.from_bytes(s.getsockopt(socket.SOL_SOCKET, SO_COOKIE, 8), "little")


def main() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(15, sys.argv[1].encode()[:15], 0, 0, 0)  # PR_SET_NAME
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    signal.alarm(int(MAX_LIFE))
    socks: dict[str, socket.socket] = {}
    n = 0

    def keep(prefix: str, s: socket.socket) -> str:
        nonlocal n
        n += 1
        name = f"{prefix}{n}"
        socks[name] = s
        return name

    for line in sys.stdin:
        cmd = json.loads(line)
        op, reply = cmd["op"], {}
        if op == "listen":
            s = socket.socket()
            s.bind(("127.0.0.1", cmd["port"]))
            s.listen(64)
            reply = {"sock": keep("L", s), "cookie": cookie(s)}
        elif op == "connect":
            s = socket.socket()
            if cmd.get("rcvbuf"):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, cmd["rcvbuf"])
            s.connect(("127.0.0.1", cmd["port"]))
            reply = {"sock": keep("C", s), "cookie": cookie(s), "local_port": s.getsockname()[1]}
        elif op == "accept":
            c, peer = socks[cmd["listener"]].accept()
            reply = {"sock": keep("A", c), "cookie": cookie(c), "peer_port": peer[1]}
        elif op == "close":
            t0 = boottime()
            socks.pop(cmd["sock"]).close()
            reply = {"t0": t0, "t": boottime()}
        elif op == "shutdown":
            t0 = boottime()
            socks[cmd["sock"]].shutdown(socket.SHUT_WR)
            reply = {"t0": t0, "t": boottime()}
        elif op == "fill":
            s, total = socks[cmd["sock"]], 0
            s.setblocking(False)
            while total < FILL_CAP:
                try:
                    total += s.send(b"x" * 65536)
                except BlockingIOError:
                    if not select.select([], [s], [], 0.3)[1]:
                        break
            s.setblocking(True)
            reply = {"bytes": total}
        elif op == "read_eof":
            s, total = socks[cmd["sock"]], 0
            s.settimeout(10)
            while True:
                b = s.recv(65536)
                if not b:
                    break
                total += len(b)
            reply = {"bytes": total}
        elif op == "exit":
            return 0
        reply["pid"] = os.getpid()
        print(json.dumps(reply), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
