#!/usr/bin/env python3
"""What SOCK_DESTROY does per TCP state on the running kernel (tests/tools/kill_states.py builds
one socket per state and destroys it) against what `explain kill` and docs/kernel-behaviour.md
say: every state is destroyed, a RST leaves only for the states tcp_need_reset() names, the
owner's fd stays open and its next write fails with ECONNABORTED. Skips (77) on kernels built
without CONFIG_INET_DIAG_DESTROY; the orphan and TIME_WAIT rows are checked from 6.11 / 6.0."""

import gzip
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import harness  # noqa: E402
import kill_states  # noqa: E402

RST = {"established", "close_wait", "fin_wait1 held", "fin_wait1 orphaned", "fin_wait2 held"}


def kernel_at_least(major, minor):
    parts = os.uname().release.split(".")
    return (int(parts[0]), int(parts[1].split("-")[0])) >= (major, minor)


def destroy_configured():
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            return "CONFIG_INET_DIAG_DESTROY=y" in f.read()
    except OSError:
        return None


def body(args, checks):
    if destroy_configured() is False:
        harness.skip("kernel built without CONFIG_INET_DIAG_DESTROY")
    tool = os.path.join(os.path.dirname(os.path.dirname(args.sockdoctor)), "tests", "destroy_one")
    lab = kill_states.Lab(args.sockdoctor, tool)
    try:
        rows = kill_states.build_and_measure(lab)
    finally:
        for s in lab.keep:
            s.close()
    print(kill_states.markdown(rows))
    for r in rows:
        orphan = "orphaned" in r["case"] or r["case"] in ("time_wait", "syn_recv (request socket)")
        if r["state"] in ("time_wait",) or "timewait" in r["case"]:
            if not kernel_at_least(6, 0):
                continue
        elif orphan and not kernel_at_least(6, 11):
            continue
        checks.equal((r["outcome"], r["socket_after"]), ("destroyed", "gone"), f"{r['case']}: destroyed")
        base = r["case"].split(" (")[0]
        checks.equal(r["rst_sent"], base in RST, f"{r['case']}: RST sent only where tcp_need_reset()")
        if "owner_fd_open" in r:
            checks.equal(r["owner_fd_open"], True, f"{r['case']}: the owner's fd stays open")
        if r["state"] in ("close_wait", "last_ack", "closing") and "owner_recv" in r:
            checks.equal((r["owner_recv"], r["owner_send"]), ("0 (EOF)", "ECONNABORTED"),
                         f"{r['case']}: owner reads EOF, then its write fails with ECONNABORTED")
        if r["state"] in ("established",) or r["case"] in ("fin_wait1 held", "fin_wait2 held"):
            checks.equal(r["owner_recv"], "ECONNABORTED", f"{r['case']}: owner's read fails")


if __name__ == "__main__":
    harness.main_wrapper("kill_states", body)
