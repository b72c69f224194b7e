"""Shared helpers for the integration tests: a private network namespace, running sockdoctor and
ss, parsing and comparing what they say, and pass/fail/skip bookkeeping (exit 0 / 1 / 77)."""

from __future__ import annotations

import argparse
import collections
import fcntl
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from statefarm import (FarmError, SsSocket, StateFarm, parse_ss, run_ss, sock_key,  # noqa: E402,F401
                       ss_state_name)

EXIT_SKIP = 77
NETNS_MARK = "SOCKDOCTOR_TEST_NETNS"  # holds the inode of the namespace we left


def skip(reason: str) -> None:
    print(f"SKIP: {reason}", flush=True)
    sys.exit(EXIT_SKIP)


def fail(reason: str) -> None:
    print(f"FAIL: {reason}", flush=True)
    sys.exit(1)


def parse_args(description: str = "") -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--sockdoctor", required=True, help="path to the sockdoctor binary")
    p.add_argument("-v", "--verbose", action="store_true", help="print every command's output")
    a = p.parse_args()
    a.sockdoctor = os.path.abspath(a.sockdoctor)
    if not os.access(a.sockdoctor, os.X_OK):
        fail(f"--sockdoctor {a.sockdoctor}: not an executable file")
    return a


# ---------------------------------------------------------------------------------------------
# Private network namespace

def _netns_ino() -> int:
    return os.stat("/proc/self/ns/net").st_ino


def _lo_up() -> None:
    ip = shutil.which("ip")
    if ip and subprocess.run([ip, "link", "set", "lo", "up"]).returncode == 0:
        return
    # No iproute2 `ip`: SIOCGIFFLAGS / SIOCSIFFLAGS on a throwaway socket do the same.
    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sh14x", b"lo", 0)
        flags = struct.unpack("16sh14x", fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh14x", b"lo", flags | IFF_UP))


def _sysctl(path: str, value: str) -> None:
    with open(os.path.join("/proc/sys", path.replace(".", "/")), "w") as f:
        f.write(value + "\n")


def in_private_netns() -> None:
    """Re-runs this script inside `unshare -n` (lo up, tcp_rfc1337=1); exits 77 if it cannot.

    The namespace lives as long as this process tree; the state farm kills its children by PID,
    so nothing outlives the test.
    """
    mark = os.environ.get(NETNS_MARK)
    if mark:
        if str(_netns_ino()) == mark:
            fail("unshare -n returned but we are still in the original network namespace")
        _lo_up()
        _sysctl("net.ipv4.tcp_rfc1337", "1")  # a stray RST must not end a TIME_WAIT we count
        return
    if os.geteuid() != 0:
        skip("needs root to create a network namespace (unshare -n)")
    unshare = shutil.which("unshare")
    if unshare is None:
        skip("unshare (util-linux) is not installed")
    probe = subprocess.run([unshare, "-n", "true"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if probe.returncode != 0:
        skip(f"unshare -n does not work here: {probe.stderr.decode(errors='replace').strip()}")
    if shutil.which("ss") is None:
        skip("ss (iproute2) is not installed; it is the reference these tests compare with")
    env = dict(os.environ, **{NETNS_MARK: str(_netns_ino())})
    sys.stdout.flush()
    sys.stderr.flush()
    script = os.path.abspath(sys.argv[0])
    os.execvpe(unshare, [unshare, "-n", "--", sys.executable, script, *sys.argv[1:]], env)


# ---------------------------------------------------------------------------------------------
# Running sockdoctor

class Run:
    def __init__(self, argv: list[str], rc: int, out: bytes, err: bytes):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err

    @property
    def cmd(self) -> str:
        return " ".join(self.argv)

    def text(self) -> str:
        return self.out.decode("utf-8", errors="replace")

    def describe(self) -> str:
        return (f"`{self.cmd}` exited {self.rc}\n--- stderr:\n{self.err.decode(errors='replace')[:2000]}"
                f"\n--- stdout (first 2000 bytes):\n{self.out.decode(errors='replace')[:2000]}")


def run_sockdoctor(sd: str, *args: str, timeout: float = 60) -> Run:
    argv = [sd, *args]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return Run(argv, r.returncode, r.stdout, r.stderr)


def sockdoctor_json(sd: str, *args: str) -> dict:
    """`sockdoctor <args>` (which must include --json) -> the parsed document; FarmError if the
    command fails or the output is not strict UTF-8 JSON."""
    r = run_sockdoctor(sd, *args)
    if r.rc != 0:
        raise FarmError(r.describe())
    try:
        return json.loads(r.out.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FarmError(f"`{r.cmd}` printed invalid JSON ({e}):\n{r.out[:2000]!r}")


def json_key(s: dict) -> tuple:
    return sock_key(s["family"], (s["local"]["addr"], s["local"]["port"]),
                    (s["peer"]["addr"], s["peer"]["port"]))


def json_owners(s: dict) -> frozenset:
    return frozenset((o["pid"], o["comm"], o["fd"]) for o in s.get("owners", []))


def state_counts(states) -> dict:
    return dict(sorted(collections.Counter(states).items()))


def ss_counts(socks: list[SsSocket]) -> dict:
    return state_counts(s.state for s in socks)


def json_counts(doc: dict) -> dict:
    return state_counts(s["state"] for s in doc["sockets"])


def consistent_with_ss(fn, with_owners: bool = False, tries: int = 3, timers: bool = False):
    """Runs fn() between two `ss` snapshots and retries until they agree, so that a state change
    in between (a timer firing) is not taken for a sockdoctor bug. Returns (fn(), ss sockets)."""
    def fingerprint(socks):
        return sorted((s.key, s.state, s.owners, s.timer) for s in socks)
    for attempt in range(tries):
        before = run_ss(with_owners, timers=timers)
        result = fn()
        after = run_ss(with_owners, timers=timers)
        if fingerprint(before) == fingerprint(after):
            return result, after
        time.sleep(0.2)
    raise FarmError(f"sockets kept changing under ss across {tries} attempts")


def listing_fingerprint(doc: dict) -> list:
    return sorted((json_key(s), s["state"], json_owners(s)) for s in doc["sockets"])


def filtered_and_full(sd: str, *args: str, tries: int = 3) -> tuple[dict, dict]:
    """`ls <args> --json` taken between two identical unfiltered listings, and that listing:
    a filter is then judged against the sockets that existed when it ran, even if a TIME_WAIT
    expires while a slow machine runs the test."""
    for _ in range(tries):
        before = sockdoctor_json(sd, "ls", "--json")
        doc = sockdoctor_json(sd, "ls", *args, "--json")
        after = sockdoctor_json(sd, "ls", "--json")
        if listing_fingerprint(before) == listing_fingerprint(after):
            return doc, after
        time.sleep(0.2)
    raise FarmError(f"sockets kept changing around `ls {' '.join(args)}` across {tries} attempts")


# ---------------------------------------------------------------------------------------------
# Bookkeeping

class Checks:
    """Collects named assertions; finish() prints a summary and exits 0 or 1."""

    def __init__(self, name: str, verbose: bool = False):
        self.name, self.verbose = name, verbose
        self.passed, self.failed = 0, []

    def check(self, cond: bool, what: str, detail: str = "") -> bool:
        if cond:
            self.passed += 1
            print(f"ok   {what}", flush=True)
        else:
            self.failed.append(what)
            print(f"FAIL {what}" + (f"\n     {detail}" if detail else ""), flush=True)
        return bool(cond)

    def equal(self, got, want, what: str) -> bool:
        return self.check(got == want, what, f"got:  {got!r}\n     want: {want!r}")

    def finish(self) -> None:
        print(f"{self.name}: {self.passed} passed, {len(self.failed)} failed", flush=True)
        sys.exit(1 if self.failed else 0)


def main_wrapper(name: str, body) -> None:
    """Runs body(args, checks) in a private netns; a FarmError or unexpected exception fails the
    test with its message instead of a bare traceback exit code."""
    args = parse_args(name)
    in_private_netns()
    checks = Checks(name, args.verbose)
    try:
        body(args, checks)
    except FarmError as e:
        checks.check(False, "no harness error", str(e))
    checks.finish()
