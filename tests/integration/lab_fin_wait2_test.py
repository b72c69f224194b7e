#!/usr/bin/env python3
"""`sockdoctor lab fin-wait-2 --fast --json`: the orphaned FIN_WAIT2 is gone after tcp_fin_timeout
while the half-closed one held by the client stays, and sockdoctor names the client (half-closed)
and the peer (CLOSE_WAIT); nothing the lab started outlives it."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from lab_cli_test import Leftovers, finding, roles, run_lab  # noqa: E402


def body(sd: str, checks: harness.Checks) -> None:
    with Leftovers(checks, "[fin-wait-2]") as left:
        doc = run_lab(sd, checks, "[fin-wait-2]", "fin-wait-2")
        if doc is None:
            return
        left.watch(doc)
    pids = roles(doc)
    fin = int(doc["sysctls"]["net.ipv4.tcp_fin_timeout"])
    tl = doc["timeline"]
    closed = next((e["t"] for e in tl for ev in e["events"] if ev["kind"] == "client_closed"), None)
    fw2 = [e["t"] for e in tl if e["states"]["orphan"] == "fin_wait2"]
    gone = [e["t"] for e in tl if e["states"]["orphan"] == "gone" and fw2 and e["t"] > fw2[0]]
    if checks.check(closed is not None and fw2 and gone, "the orphan went FIN_WAIT2, then gone"):
        # The kernel frees it on a timer (the lower bound is the point); the lab sees it at its next
        # look, which a loaded box can delay by seconds.
        checks.check(fin - 0.5 <= gone[0] - closed <= fin + 10,
                     f"gone about tcp_fin_timeout ({fin} s) after close()",
                     f"{gone[0] - closed:.1f} s")
    last = tl[-1]["states"]
    checks.equal(last, {"orphan": "gone", "orphan_peer": "close_wait",
                        "half_closed": "fin_wait2", "half_closed_peer": "close_wait"},
                 "at the end: orphan gone, half-closed FIN_WAIT2 and both peers' CLOSE_WAIT stay")
    orphan = finding(doc, "fin_wait2_orphaned", which=0)
    checks.check(orphan is not None and orphan["count"] == 1,
                 "while it existed, sockdoctor reported the orphan", str(orphan))
    held = finding(doc, "fin_wait2_half_closed", pids.get("client"))
    if checks.check(held is not None, "the half-closed FIN_WAIT2 names the client's PID"):
        checks.equal(held["count"], 1, "count 1")
        checks.equal(held["process"]["comm"], "lab-closer", "and its comm")
        checks.equal(held["evidence"].get("bounded"), False, "not bounded by tcp_fin_timeout")
    checks.check(finding(doc, "fin_wait2_orphaned") is None,
                 "the final diagnosis has no orphan any more")
    leak = finding(doc, "close_wait_leak", pids.get("peer"))
    checks.check(leak is not None and leak["count"] == 2,
                 "the peer's 2 CLOSE_WAIT sockets name its PID", str(leak))


def main() -> None:
    args = harness.parse_args(__doc__)
    if os.geteuid() != 0:
        harness.skip("sockdoctor lab needs root")
    checks = harness.Checks("lab_fin_wait2", args.verbose)
    body(args.sockdoctor, checks)
    checks.finish()


if __name__ == "__main__":
    main()
