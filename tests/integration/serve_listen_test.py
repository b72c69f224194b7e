#!/usr/bin/env python3
"""`sockdoctor serve --listen` (private netns): ":PORT" answers on IPv4 and IPv6 loopback alike,
and a second exporter on a port that is taken fails with a message instead of binding beside the
first (cpp-httplib's default SO_REUSEPORT let the kernel split scrapes between the two)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import servekit  # noqa: E402


def start(sd: str, listen: str) -> tuple[subprocess.Popen, int, list[str]]:
    """serve --listen LISTEN: (process, port or 0 if it did not listen, its stderr lines)."""
    p = subprocess.Popen([sd, "--register", "off", "serve", "--listen", listen, "--db", "off",
                          "--netns", f"/proc/{os.getpid()}/ns/net"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = p.stderr.readline().decode(errors="replace")
        if not line:
            break  # it exited
        lines.append(line.rstrip("\n"))
        m = re.search(r"listening on http://(\S+):(\d+)", line)
        if m:
            return p, int(m.group(2)), lines
    return p, 0, lines


def stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def status(url: str) -> int:
    try:
        return servekit.get(url, timeout=30)[0]
    except OSError as e:  # refused: nothing listens there
        print(f"     {url}: {e}")
        return -1


def ipv6_loopback() -> bool:
    return os.path.exists("/proc/net/if_inet6") and any(
        l.split()[0] == "0" * 31 + "1" for l in open("/proc/net/if_inet6"))


def body(args, checks):
    sd = args.sockdoctor
    first, port, lines = start(sd, ":0")
    try:
        if not checks.check(port > 0, "serve --listen :0 listens", str(lines)):
            return
        checks.check(any(f"http://[::]:{port}" in l for l in lines),
                     "it says it listens on every address ([::])", str(lines))
        checks.equal(status(f"http://127.0.0.1:{port}/metrics"), 200,
                     ":PORT answers on 127.0.0.1")
        if ipv6_loopback():
            checks.equal(status(f"http://[::1]:{port}/metrics"), 200,
                         ":PORT answers on ::1")
        for listen in (f":{port}", f"127.0.0.1:{port}"):
            second, second_port, second_lines = start(sd, listen)
            try:
                rc = second.wait(timeout=60) if second_port == 0 else None
            finally:
                stop(second)
            checks.check(second_port == 0 and rc not in (0, None)
                         and any("cannot listen" in l for l in second_lines),
                         f"a second serve --listen {listen} fails with a message",
                         f"port {second_port}, rc {rc}: {second_lines}")
    finally:
        stop(first)


if __name__ == "__main__":
    harness.main_wrapper("serve_listen", body)
