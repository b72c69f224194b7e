#!/usr/bin/env python3
"""`sockdoctor lab close-wait --fast --json`, the article's experiment, with real nginx and with the
built-in server: the timeline must go ESTABLISHED -> client CLOSE_WAIT + server FIN_WAIT2 -> server
gone while the client's CLOSE_WAIT stays; sockdoctor must name the client's PID (count 1); and
nothing the lab started may outlive it."""

import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from lab_cli_test import Leftovers, run_lab  # noqa: E402

def states_path(timeline: list) -> list:
    """The distinct (client, server) states in order of appearance."""
    path = []
    for e in timeline:
        pair = (e["states"].get("client"), e["states"].get("server"))
        if not path or path[-1] != pair:
            path.append(pair)
    return path


def run_one(sd: str, server: str, checks: harness.Checks) -> None:
    label = f"[{server}]"
    with Leftovers(checks, label) as left:
        doc = run_lab(sd, checks, label, "close-wait", "--server", server)
        if doc is None:
            return
        left.watch(doc)
    checks.equal(doc["server"], server, f"{label} the JSON says which server ran")
    procs = {p["role"]: p for p in doc["processes"]}
    if server == "nginx":
        checks.equal(procs.get("server", {}).get("comm"), "nginx", f"{label} the server is nginx")
        checks.check("nginx/" in (doc["server_detail"] or ""), f"{label} names nginx's version",
                     doc["server_detail"] or "")
    else:
        checks.equal(procs.get("server", {}).get("comm"), "lab-httpd",
                     f"{label} the server is the built-in one")
    client_pid = procs.get("client", {}).get("pid")

    path = states_path(doc["timeline"])
    want = [("established", "established"), ("close_wait", "fin_wait2"), ("close_wait", "gone")]
    # FIN_WAIT1 may show for a moment: the client's ACK of the FIN can be delayed.
    got = [p for p in path if p != ("close_wait", "fin_wait1")]
    checks.equal(got, want, f"{label} timeline: ESTABLISHED -> CLOSE_WAIT/FIN_WAIT2 -> "
                            f"CLOSE_WAIT/gone")
    last = doc["timeline"][-1]["states"]
    checks.equal(last, {"client": "close_wait", "server": "gone"},
                 f"{label} at the end the client's CLOSE_WAIT stays, the server's end is gone")
    times = [e["time"] for e in doc["timeline"]]
    checks.check(all(len(t) == 8 and t[2] == ":" and t[5] == ":" for t in times),
                 f"{label} timeline entries carry HH:MM:SS", str(times[:3]))
    kinds = [ev["kind"] for e in doc["timeline"] for ev in e["events"]]
    for k in ("client_response", "server_closed", "client_eof", "server_gone"):
        checks.check(k in kinds, f"{label} event {k} is in the timeline", str(kinds))

    findings = doc["diagnoses"][-1]["findings"] if doc["diagnoses"] else []
    leaks = [f for f in findings if f["id"] == "close_wait_leak"]
    if checks.equal(len(leaks), 1, f"{label} one close_wait_leak finding"):
        f = leaks[0]
        checks.equal((f["process"] or {}).get("pid"), client_pid, f"{label} it names the client's "
                                                                  f"PID")
        checks.equal((f["process"] or {}).get("comm"), "lab-client", f"{label} and its comm")
        checks.equal(f["count"], 1, f"{label} count 1")
        checks.equal(f["evidence"].get("recv_q_eof_read"), 1,
                     f"{label} Recv-Q 0: the client read the EOF and did not close")
    checks.check(all(c["ok"] for c in doc["checks"]), f"{label} every kernel check passed",
                 str([c for c in doc["checks"] if not c["ok"]]))
    lesson = " ".join(p["text"] for p in doc["lesson"])
    checks.check("SO_KEEPALIVE" in lesson and "close()" in lesson,
                 f"{label} the lesson says keepalive needs SO_KEEPALIVE and the fix is close()",
                 lesson[:500])
    claims = [p["corrects"]["claim"] for p in doc["lesson"] if p["corrects"]]
    checks.check(any("2 hours" in c for c in claims),
                 f"{label} the lesson corrects the article's 2-hour keepalive claim", str(claims))


def main() -> None:
    args = harness.parse_args(__doc__)
    if os.geteuid() != 0:
        harness.skip("sockdoctor lab needs root")
    checks = harness.Checks("lab_close_wait", args.verbose)
    nginx = shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")
    if nginx:
        run_one(args.sockdoctor, "nginx", checks)
    run_one(args.sockdoctor, "builtin", checks)
    if not nginx and not checks.failed:
        harness.skip("nginx is not installed: the built-in server passed, the nginx path could "
                     "not run (scripts/setup.sh installs nginx-light)")
    checks.finish()


if __name__ == "__main__":
    main()
