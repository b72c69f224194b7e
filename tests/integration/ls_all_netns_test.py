"""`sockdoctor ls --all-netns` sees the sockets of two other named network namespaces at once, each
tagged with its namespace (inode and /run/netns name) and its owning process, from outside them.

Two namespaces are created with `ip netns add` (loopback only); in each a holder process, with a
distinct name, listens and holds one established connection to itself. Everything is removed by
PID and by namespace name on every exit path.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checks, fail, parse_args, run_sockdoctor, skip  # noqa: E402

HOLDER = r"""
import ctypes, socket, sys, time
ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)  # PR_SET_NAME
port = int(sys.argv[2])
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(8)
cli = socket.create_connection(("127.0.0.1", port)); acc, _ = srv.accept()
print("ready", flush=True)
time.sleep(float(sys.argv[3]))
"""


def main() -> None:
    args = parse_args(__doc__)
    if os.geteuid() != 0:
        skip("needs root to create network namespaces")
    if not shutil.which("ip"):
        skip("iproute2 `ip` is not installed")
    tag = f"{os.getpid()}"
    spaces = {f"sd-allns-a-{tag}": ("sd-holder-a", 7101), f"sd-allns-b-{tag}": ("sd-holder-b", 7102)}
    holders: list[subprocess.Popen] = []

    def cleanup() -> None:
        for p in holders:
            if p.poll() is None:
                p.kill()
                p.wait()
        for name in spaces:
            subprocess.run(["ip", "netns", "del", name], stderr=subprocess.DEVNULL)

    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    for name, (comm, port) in spaces.items():
        if subprocess.run(["ip", "netns", "add", name]).returncode != 0:
            skip(f"ip netns add {name} failed")
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        p = subprocess.Popen(["ip", "netns", "exec", name, sys.executable, "-c", HOLDER, comm,
                              str(port), "120"], stdout=subprocess.PIPE, text=True)
        holders.append(p)
        if p.stdout.readline().strip() != "ready":
            fail(f"holder in {name} did not start")

    checks = Checks("ls_all_netns_test", args.verbose)
    run = run_sockdoctor(args.sockdoctor, "--all-netns", "ls", "--json", timeout=120)
    checks.equal(run.rc, 0, "ls --all-netns --json exits 0")
    doc = json.loads(run.out)
    for (name, (comm, port)), holder in zip(spaces.items(), holders):
        inode = os.stat(f"/run/netns/{name}").st_ino
        mine = [s for s in doc["sockets"] if s.get("netns", {}).get("inode") == inode]
        states = sorted(s["state"] for s in mine)
        checks.equal(states, ["established", "established", "listen"],
                     f"{name}: its listener and both ends of its connection, tagged with its inode")
        checks.check(all(s["netns"]["name"] == name for s in mine), f"{name}: named {name}",
                     json.dumps([s["netns"] for s in mine]))
        owners = {(o["comm"], o["pid"]) for s in mine for o in s["owners"]}
        # `ip netns exec` execs the holder, so the holder's pid is the Popen pid.
        checks.equal(owners, {(comm, holder.pid)}, f"{name}: owned by {comm} (pid {holder.pid})")
        checks.check(all(s["local"]["port"] == port or s["peer"]["port"] == port for s in mine),
                     f"{name}: only its own port {port}")

    # Without --all-netns the same command sees none of them (sock_diag is per namespace).
    here = json.loads(run_sockdoctor(args.sockdoctor, "ls", "--json").out)
    checks.check(not any(s.get("netns") for s in here["sockets"]) and
                 not any(o["comm"].startswith("sd-holder-") for s in here["sockets"]
                         for o in s["owners"]),
                 "without --all-netns only this namespace's sockets are listed")

    table = run_sockdoctor(args.sockdoctor, "--all-netns", "ls", "-w", "--port", "7101")
    lines = table.text().splitlines()
    checks.check(bool(lines) and lines[0].startswith("Netns"), "the table gains a Netns column",
                 table.text())
    checks.check(any(line.startswith(f"sd-allns-a-{tag}") and "sd-holder-a" in line
                     for line in lines[1:]), "rows name the namespace and the owner", table.text())
    cleanup()
    checks.finish()


if __name__ == "__main__":
    main()
