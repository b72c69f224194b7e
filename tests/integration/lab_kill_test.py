#!/usr/bin/env python3
"""`sockdoctor lab kill --fast --json`: the leaker's CLOSE_WAIT sockets are named, survive the dry
run, are destroyed by cookie; afterwards the leaker reads EOF, its first write fails with
ECONNABORTED and the next with EPIPE, every fd stays open, and the finding is gone; nothing the
lab started outlives it."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from lab_cli_test import Leftovers, finding, roles, run_lab  # noqa: E402


def body(sd: str, checks: harness.Checks) -> None:
    with Leftovers(checks, "[kill]") as left:
        doc = run_lab(sd, checks, "[kill]", "kill")
        if doc is None:
            return
        left.watch(doc)
    pids = roles(doc)
    checks.equal([c["id"] for c in doc["checks"] if not c["ok"]], [], "every lab check passed")
    leak = finding(doc, "close_wait_leak", pids.get("client"), which=0)
    checks.check(leak is not None and leak["count"] == 3, "before: the leaker's 3 CLOSE_WAITs",
                 str(leak))
    checks.check(finding(doc, "close_wait_leak") is None, "after: no CLOSE_WAIT finding")
    events = [ev for e in doc["timeline"] for ev in e["events"]]
    destroyed = [ev["text"] for ev in events if ev["kind"] == "destroy"]
    checks.check(len(destroyed) == 3 and all(t.endswith(": destroyed") for t in destroyed),
                 "three destroy events, each destroyed", str(destroyed))
    seen = [ev["text"] for ev in events if ev["kind"] == "leaker_sees"]
    checks.check(len(seen) == 3 and all("recv=EOF send=ECONNABORTED send2=EPIPE open=yes" in t
                                        for t in seen),
                 "the leaker: EOF, ECONNABORTED, EPIPE, fd open", str(seen))
    last = doc["timeline"][-1]["states"]
    checks.equal(sorted(set(last.values())), ["close", "gone"],
                 "at the end: the leaks are CLOSE (fd held), the server's ends gone")


def main() -> None:
    args = harness.parse_args(__doc__)
    if os.geteuid() != 0:
        harness.skip("sockdoctor lab needs root")
    checks = harness.Checks("lab_kill", args.verbose)
    body(args.sockdoctor, checks)
    checks.finish()


if __name__ == "__main__":
    main()
