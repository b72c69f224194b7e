#!/usr/bin/env python3
"""`sockdoctor lab time-wait --fast --json`: a storm toward one destination with 100 ephemeral
ports and tcp_tw_reuse=0. sockdoctor's critical port-budget finding must come before connect()
fails with EADDRNOTAVAIL, which must happen with exactly 100 TIME_WAIT entries; another
destination still connects; with tcp_tw_reuse=1 the storm completes."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from lab_cli_test import Leftovers, finding, run_lab  # noqa: E402


def first_event(doc: dict, kind: str):
    for e in doc["timeline"]:
        for ev in e["events"]:
            if ev["kind"] == kind:
                return e, ev
    return None, None


def body(sd: str, checks: harness.Checks) -> None:
    with Leftovers(checks, "[time-wait]") as left:
        doc = run_lab(sd, checks, "[time-wait]", "time-wait")
        if doc is None:
            return
        left.watch(doc)
    checks.equal(doc["sysctls"].get("net.ipv4.ip_local_port_range"), "40000 40099",
                 "the namespace's port range is narrowed to 100 ports")
    pred, pred_ev = first_event(doc, "prediction")
    fail, fail_ev = first_event(doc, "eaddrnotavail")
    if not checks.check(pred is not None and fail is not None,
                        "both the prediction and EADDRNOTAVAIL are in the timeline"):
        return
    checks.check(pred["t"] < fail["t"], "the prediction came before EADDRNOTAVAIL",
                 f"{pred['t']} vs {fail['t']}")
    checks.check(pred["counts"]["connects"] < fail["counts"]["connects"],
                 "with fewer connections made", f"{pred['counts']} vs {fail['counts']}")
    checks.equal(fail["counts"]["time_wait"], 100, "EADDRNOTAVAIL with 100 TIME_WAIT entries")
    checks.equal(fail["counts"]["connects"], 100, "after 100 connections")
    f = finding(doc, "ephemeral_port_exhaustion", which=0)
    if checks.check(f is not None, "the first diagnosis has a port-budget finding"):
        checks.equal(f["severity"], "critical", "it is critical")
        checks.equal(f["evidence"].get("usable_ports"), 100, "over 100 usable ports")
        checks.equal(f["evidence"].get("tw_reuse_applies"), False, "tcp_tw_reuse does not apply")
    other, _ = first_event(doc, "other_destination")
    checks.check(other is not None and "still works" in other["events"][0]["text"],
                 "another destination port still connects (TIME_WAIT blocks a 4-tuple)")
    done, done_ev = first_event(doc, "storm_done")
    checks.check(done_ev is not None and done_ev["text"].startswith("300 connections made, 0 refused"),
                 "with tcp_tw_reuse=1 the storm of 300 connections completes",
                 done_ev["text"] if done_ev else "no storm_done event")
    by_id = {c["id"]: c for c in doc["checks"]}
    checks.check(by_id.get("tw_recycled", {}).get("ok"), "TcpExtTWRecycled grew",
                 str(by_id.get("tw_recycled")))
    claims = " ".join(p["corrects"]["claim"] for p in doc["lesson"] if p["corrects"])
    checks.check("MSL" in claims and "tcp_tw_recycle" in claims,
                 "the lesson corrects 2 x MSL and tcp_tw_recycle", claims)


def main() -> None:
    args = harness.parse_args(__doc__)
    if os.geteuid() != 0:
        harness.skip("sockdoctor lab needs root")
    checks = harness.Checks("lab_time_wait", args.verbose)
    body(args.sockdoctor, checks)
    checks.finish()


if __name__ == "__main__":
    main()
