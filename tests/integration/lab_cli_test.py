#!/usr/bin/env python3
"""`sockdoctor lab` as a command: --list, usage errors, exit 77 without root, and Ctrl-C in the
middle of a scenario, after which no process and no namespace of the lab may remain.

Also the helpers the other lab_*_test.py files share: run_lab() (runs a scenario with --fast
--json and parses it) and Leftovers (asserts that nothing the lab started outlives it)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

LAB_COMMS = {"nginx", "lab-client", "lab-httpd", "lab-server", "lab-peer", "lab-closer"}
SCENARIOS = ["close-wait", "keepalive", "time-wait", "fin-wait-2"]


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Orphans of what this test starts are re-parented to it, not to init: then 'started by this
    test' is 'descends from this process', whatever else runs on the host."""
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def state_and_parent(pid: int):
    """('R', ppid) from /proc/PID/stat, or None if it is gone (comm may hold spaces and ')')."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[0], int(fields[1])
    except (OSError, IndexError, ValueError):
        return None


def ours(pid: int) -> bool:
    """pid descends from this test process. A zombie child is reaped here and no longer counts."""
    me, hops = os.getpid(), 0
    sp = state_and_parent(pid)
    if sp is not None and sp[0] == "Z":
        if sp[1] == me:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        return False
    while sp is not None and hops < 64:
        if sp[1] == me:
            return True
        if sp[1] <= 1:
            return False
        sp, hops = state_and_parent(sp[1]), hops + 1
    return False


def lab_processes() -> set:
    """(pid, comm) of every process named as the lab names its children that this test started
    (other jobs on the host may run labs of their own at the same time)."""
    out = set()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm in LAB_COMMS and ours(int(d)):
            out.add((int(d), comm))
    return out


def processes_in_netns(inode: int) -> list:
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.stat(f"/proc/{d}/ns/net").st_ino == inode:
                    pids.append(int(d))
            except OSError:
                pass
    return pids


def netns_list() -> set:
    """Names from `ip netns list` (the lab never creates one: its namespace is anonymous)."""
    ip = shutil.which("ip")
    if ip is None:
        return set()
    out = subprocess.run([ip, "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def netns_inode(name: str) -> int:
    try:
        return os.stat(f"/run/netns/{name}").st_ino
    except OSError:
        return 0


class Leftovers:
    """with Leftovers(checks, label) as left: ...; left.watch(doc) -- on exit asserts that no new
    lab-named process exists, that none of doc's PIDs exists, that no process is left in the
    lab's namespace, and that `ip netns list` did not change."""

    def __init__(self, checks: harness.Checks, label: str):
        self.checks, self.label, self.doc = checks, label, None

    def __enter__(self):
        become_subreaper()
        self.procs, self.ns = lab_processes(), netns_list()
        return self

    def watch(self, doc: dict) -> None:
        self.doc = doc

    def __exit__(self, *exc):
        c, label = self.checks, self.label
        deadline = time.monotonic() + 2  # a killed child may take a moment to be gone everywhere
        while lab_processes() - self.procs and time.monotonic() < deadline:
            time.sleep(0.1)
        c.equal(sorted(lab_processes() - self.procs), [], f"{label} no lab process is left")
        if self.doc is not None:
            alive = [p["pid"] for p in self.doc["processes"]
                     if os.path.exists(f"/proc/{p['pid']}")]
            c.equal(alive, [], f"{label} none of the lab's PIDs exists any more")
            c.equal(processes_in_netns(self.doc["netns_inode"]), [],
                    f"{label} no process is left in the lab's network namespace")
        # Other jobs on the host may add namespaces meanwhile: only one that is the lab's, or
        # that is named like it, counts.
        new = netns_list() - self.ns
        ours = self.doc["netns_inode"] if self.doc is not None else -1
        c.equal(sorted(n for n in new if n.startswith("sd-lab") or netns_inode(n) == ours), [],
                f"{label} `ip netns list` has no namespace of the lab")
        if new:
            print(f"     (namespaces created meanwhile by others: {sorted(new)})", flush=True)
        return False


def run_lab(sd: str, checks: harness.Checks, label: str, scenario: str, *extra: str):
    """`sockdoctor lab SCENARIO --fast --json [extra]`: the parsed document, or None after a
    failed check."""
    t0 = time.monotonic()
    r = harness.run_sockdoctor(sd, "lab", scenario, "--fast", "--json", *extra, timeout=90)
    took = time.monotonic() - t0
    print(f"     ({scenario} took {took:.1f} s)", flush=True)
    if not checks.equal(r.rc, 0, f"{label} lab {scenario} exits 0 (every kernel check passed)"):
        print(r.describe())
    try:
        doc = json.loads(r.out.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        checks.check(False, f"{label} prints one JSON document", f"{e}\n{r.describe()}")
        return None
    checks.equal(doc["scenario"], scenario, f"{label} the document names the scenario")
    checks.check(doc["passed"] and doc["error"] is None, f"{label} passed, no error",
                 str(doc["error"]) + str([c for c in doc["checks"] if not c["ok"]]))
    checks.check(took < 40, f"{label} --fast takes under 40 s", f"{took:.1f} s")
    checks.check(len(doc["lesson"]) > 0, f"{label} ends with a lesson")
    return doc


def finding(doc: dict, finding_id: str, pid: int | None = None, which: int = -1):
    """The finding with this id (and process pid) in diagnosis number `which` (default: last)."""
    if not doc["diagnoses"]:
        return None
    for f in doc["diagnoses"][which]["findings"]:
        if f["id"] == finding_id and (pid is None or (f["process"] or {}).get("pid") == pid):
            return f
    return None


def roles(doc: dict) -> dict:
    return {p["role"]: p["pid"] for p in doc["processes"]}


# ---------------------------------------------------------------------------------------------

def test_list_and_usage(sd: str, checks: harness.Checks) -> None:
    r = harness.run_sockdoctor(sd, "lab", "--list")
    checks.equal(r.rc, 0, "lab --list exits 0")
    for s in SCENARIOS:
        checks.check(f"\n  {s} " in r.text(), f"--list describes {s}", r.text()[:2000])
    r = harness.run_sockdoctor(sd, "lab")
    checks.equal(r.rc, 64, "lab without a scenario is a usage error (64)")
    r = harness.run_sockdoctor(sd, "lab", "no-such-scenario")
    checks.equal(r.rc, 64, "an unknown scenario is a usage error (64)")
    r = harness.run_sockdoctor(sd, "lab", "close-wait", "--server", "apache")
    checks.equal(r.rc, 64, "an unknown --server is a usage error (64)")


def test_not_root(sd: str, checks: harness.Checks) -> None:
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        print("note: setpriv (util-linux) is missing; the non-root case is not tested")
        return
    argv = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", sd, "lab", "keepalive",
            "--fast"]
    r = subprocess.run(argv, capture_output=True, timeout=30)
    checks.equal(r.returncode, 77, "without root, lab exits 77")
    checks.check(b"needs root" in r.stderr, "and says it needs root", r.stderr.decode(errors="replace"))


def test_interrupt(sd: str, checks: harness.Checks) -> None:
    """Ctrl-C (SIGINT) during close-wait (text mode, built-in server): exit 128+2, message, and
    every process of the lab is gone."""
    with Leftovers(checks, "[SIGINT]"):
        p = subprocess.Popen([sd, "lab", "close-wait", "--server", "builtin"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started = time.monotonic()
        seen_rows, header = 0, False
        while time.monotonic() - started < 20:
            line = p.stdout.readline()
            if not line:
                break
            header = header or line.startswith("TIME ")
            if header and line[:2].isdigit() and line[2] == ":":
                seen_rows += 1
                if seen_rows == 2:
                    break
        children = [pid for pid, comm in lab_processes() if comm in ("lab-client", "lab-httpd")]
        checks.check(len(children) >= 2, "[SIGINT] the scenario runs its children",
                     str(children))
        p.send_signal(signal.SIGINT)
        try:
            out, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            checks.check(False, "[SIGINT] lab stops within 10 s of SIGINT")
            return
        checks.equal(p.returncode, 128 + signal.SIGINT, "[SIGINT] exit status 130")
        checks.check("interrupted" in err, "[SIGINT] says it was interrupted", err)
        checks.equal([c for c in children if os.path.exists(f"/proc/{c}")], [],
                     "[SIGINT] its children are gone")


def main() -> None:
    args = harness.parse_args(__doc__)
    checks = harness.Checks("lab_cli", args.verbose)
    test_list_and_usage(args.sockdoctor, checks)
    if os.geteuid() != 0:
        harness.skip("the rest needs root")
    test_not_root(args.sockdoctor, checks)
    test_interrupt(args.sockdoctor, checks)
    checks.finish()


if __name__ == "__main__":
    main()
