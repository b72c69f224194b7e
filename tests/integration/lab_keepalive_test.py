#!/usr/bin/env python3
"""`sockdoctor lab keepalive --fast --json`: A (no SO_KEEPALIVE) stays in CLOSE_WAIT; B
(SO_KEEPALIVE, the server's socket gone) goes to CLOSE when the first probe draws a RST, with
EPIPE and its fd still open; C (SO_KEEPALIVE, the server's socket open) stays in CLOSE_WAIT.
sockdoctor names the client (2 CLOSE_WAIT, 1 with a keepalive timer) and the server (1
half-closed FIN_WAIT2); nothing the lab started outlives it."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from lab_cli_test import Leftovers, finding, roles, run_lab  # noqa: E402


def column(doc: dict, key: str) -> list:
    """The distinct states of one end, in order of appearance."""
    out = []
    for e in doc["timeline"]:
        s = e["states"].get(key)
        if not out or out[-1] != s:
            out.append(s)
    return out


def body(sd: str, checks: harness.Checks) -> None:
    with Leftovers(checks, "[keepalive]") as left:
        doc = run_lab(sd, checks, "[keepalive]", "keepalive")
        if doc is None:
            return
        left.watch(doc)
    pids = roles(doc)
    a, b, c = column(doc, "a_client"), column(doc, "b_client"), column(doc, "c_client")
    checks.equal(a, ["established", "close_wait"], "A: ESTABLISHED -> CLOSE_WAIT, and it stays")
    checks.equal(b, ["established", "close_wait", "close"],
                 "B: ESTABLISHED -> CLOSE_WAIT -> CLOSE (the probe's RST)")
    checks.equal(c, ["established", "close_wait"], "C: ESTABLISHED -> CLOSE_WAIT, and it stays")
    last = doc["timeline"][-1]["states"]
    checks.equal((last["a_server"], last["b_server"], last["c_server"]),
                 ("gone", "gone", "fin_wait2"),
                 "the server's orphans of A and B are gone; C's half-closed end stays")
    checks.check(doc["timeline"][-1]["counts"]["probes"] >= 2,
                 "keepalive probes were sent (TcpExtTCPKeepAlive)", str(doc["timeline"][-1]))
    by_id = {ch["id"]: ch for ch in doc["checks"]}
    for cid in ("a_stays", "b_reset_by_probe", "b_epipe", "b_fd_open", "c_stays"):
        checks.check(by_id.get(cid, {}).get("ok"), f"kernel check {cid}", str(by_id.get(cid)))

    leak = finding(doc, "close_wait_leak", pids.get("client"))
    if checks.check(leak is not None, "a close_wait_leak finding names the client's PID"):
        checks.equal(leak["count"], 2, "it counts A and C (B is CLOSE, unlisted by the kernel)")
        checks.equal(leak["evidence"].get("keepalive_timers"), 1, "one of them (C) has keepalive")
    half = finding(doc, "fin_wait2_half_closed", pids.get("server"))
    if checks.check(half is not None, "a fin_wait2_half_closed finding names the server's PID"):
        checks.equal(half["count"], 1, "for C's half-closed end")
    claims = " ".join(p["corrects"]["claim"] for p in doc["lesson"] if p["corrects"])
    checks.check("7875" in claims, "the lesson corrects the 7875 s keepalive bound", claims)


def main() -> None:
    args = harness.parse_args(__doc__)
    if os.geteuid() != 0:
        harness.skip("sockdoctor lab needs root")
    checks = harness.Checks("lab_keepalive", args.verbose)
    body(args.sockdoctor, checks)
    checks.finish()


if __name__ == "__main__":
    main()
