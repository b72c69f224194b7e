"""One simulated host of the fleet test, run as `unshare -n python3 fleet_host.py ROLE EVENTS`:
its own network namespace (loopback only), a server on 127.0.0.1:8080 and a client whose
behaviour is the role. Every loop is bounded in count and time; it exits by itself.

  leak   the client ("order-sync") opens 2 connections a second that the server closes at
         once, and never closes them: CLOSE_WAIT grows (at most 120).
  churn  the client ("churner") opens and closes 80 connections a second, closing first: a
         steady ~5000 TIME_WAIT entries, far from the 28232 ports of the default range.
  ports  ip_local_port_range 40000-40199 and tcp_tw_reuse 0: once EVENTS.go exists (the test's
         monitoring is up), the client ("batch-sync") closes first 17 connections a second up
         to 170 TIME_WAIT (85%), then one a second until connect() fails; the time of the
         failure is written to EVENTS.
"""

import ctypes
import errno
import json
import selectors
import os
import socket
import subprocess
import sys
import threading
import time

MAX_SECONDS = 240


def set_comm(name: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


def sysctl(name: str, value: str) -> None:
    with open("/proc/sys/" + name.replace(".", "/"), "w") as f:
        f.write(value)


def serve(close_at_once: bool, stop: threading.Event) -> socket.socket:
    """A server on 127.0.0.1:8080 that closes each connection at once (the client is left in
    CLOSE_WAIT) or when the client's EOF arrives (the client closed first and keeps the
    TIME_WAIT; the server holds no CLOSE_WAIT)."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 8080))
    srv.listen(4096)
    srv.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ)

    def loop():
        while not stop.is_set():
            for key, _ in sel.select(timeout=0.5):
                if key.fileobj is srv:
                    try:
                        c, _ = srv.accept()
                    except OSError:
                        continue
                    if close_at_once:
                        c.close()
                    else:
                        sel.register(c, selectors.EVENT_READ)
                else:
                    c = key.fileobj
                    try:
                        data = c.recv(4096)
                    except OSError:
                        data = b""
                    if not data:
                        sel.unregister(c)
                        c.close()

    threading.Thread(target=loop, daemon=True).start()
    return srv


def event(path: str, **kw) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(dict(kw, t=time.time())) + "\n")


def client_close_first() -> bool:
    """One connection that the client closes first (its side keeps the TIME_WAIT)."""
    c = socket.socket()
    try:
        c.connect(("127.0.0.1", 8080))
    except OSError as e:
        c.close()
        if e.errno in (errno.EADDRNOTAVAIL, errno.EADDRINUSE):
            return False
        raise
    c.close()
    return True


def run(role: str, events: str) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    sysctl("net.ipv4.tcp_rfc1337", "1")
    stop = threading.Event()
    deadline = time.monotonic() + MAX_SECONDS
    if role == "leak":
        serve(close_at_once=True, stop=stop)
        set_comm("order-sync")
        kept = []
        event(events, what="ready")
        while time.monotonic() < deadline:
            if len(kept) < 120:
                for _ in range(2):
                    c = socket.socket()
                    c.connect(("127.0.0.1", 8080))
                    kept.append(c)  # never closed: CLOSE_WAIT once the server's FIN arrives
            time.sleep(1)
    elif role == "churn":
        serve(close_at_once=False, stop=stop)
        set_comm("churner")
        event(events, what="ready")
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            for _ in range(80):
                client_close_first()
            time.sleep(max(0.0, 1 - (time.monotonic() - t0)))
    elif role == "ports":
        sysctl("net.ipv4.ip_local_port_range", "40000 40199")
        sysctl("net.ipv4.tcp_tw_reuse", "0")  # 2 (the default) would reuse loopback TIME_WAIT
        serve(close_at_once=False, stop=stop)
        set_comm("batch-sync")
        event(events, what="ready")
        # The storm waits for the test's go (monitoring up), at most 120 s: it runs out of ports
        # ~40 s after it starts, and on a loaded box starting the monitoring can take that long.
        go = time.monotonic() + 120
        while not os.path.exists(events + ".go") and time.monotonic() < go:
            time.sleep(0.1)
        event(events, what="storm")
        made = 0
        while time.monotonic() < deadline:
            burst = 17 if made < 170 else 1
            for _ in range(burst):
                if not client_close_first():
                    event(events, what="connect_failed", made=made)
                    while time.monotonic() < deadline:  # stay, so the series stay visible
                        time.sleep(1)
                    return
                made += 1
            time.sleep(1)
    else:
        sys.exit(f"unknown role {role}")


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2])
