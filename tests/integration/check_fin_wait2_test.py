#!/usr/bin/env python3
"""`sockdoctor check` on a half-closed FIN_WAIT2 held by a process.

"sd-halfcloser" connects to "sd-sleepy", calls shutdown(SHUT_WR) and keeps the fd; sd-sleepy
accepts and never reads nor closes. The half-closer's socket sits in FIN_WAIT2 with no timer
(tcp_fin_timeout does not apply to a socket a process still holds), the sleeper's in
CLOSE_WAIT. check must name the half-closer, say the wait is unbounded, and name the local
process at the other end."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "check"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from holders import Holder, findings, sockdoctor_check, sockdoctor_text, write_sysctl  # noqa: E402

WAIT = 3.0

SLEEPY = r'''
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(4)
port = srv.getsockname()[1]
ready(port=port)
srv.settimeout(10)
conn, _ = srv.accept()   # accept, then never read and never close
hold()
'''

HALFCLOSER = r'''
c = socket.create_connection(("127.0.0.1", ARGS["port"]))
c.shutdown(socket.SHUT_WR)   # FIN sent; the fd stays open: FIN_WAIT2 without a timer
ready(port=c.getsockname()[1])
hold()
'''


def body(args, checks):
    sd = args.sockdoctor
    write_sysctl("net.ipv4.tcp_fin_timeout", "30")  # must not matter for a held socket
    with Holder("sd-sleepy", SLEEPY) as sleepy, \
            Holder("sd-halfcloser", HALFCLOSER, {"port": sleepy.info["port"]}) as half:
        started = time.monotonic()
        time.sleep(WAIT)
        states = {s.state for s in harness.run_ss(False)
                  if s.local[1] == half.info["port"] or s.peer[1] == half.info["port"]}
        checks.equal(states, {"fin_wait2", "close_wait"}, "ss sees FIN_WAIT2 and CLOSE_WAIT")

        rc, doc, raw, err = sockdoctor_check(sd, "--min-age", "1")
        elapsed = time.monotonic() - started
        held = findings(doc, "fin_wait2_half_closed")
        checks.equal(rc, 1, "exit status 1 (WARNING)")
        if not checks.equal(len(held), 1, "one fin_wait2_half_closed finding"):
            print(raw[:4000], err)
            return
        f = held[0]
        checks.equal(f["severity"], "warning", "severity warning")
        checks.equal((f["process"] or {}).get("pid"), half.pid, "names the half-closer's PID")
        checks.equal((f["process"] or {}).get("comm"), "sd-halfcloser", "and its comm")
        checks.equal(f["evidence"].get("bounded"), False, "unbounded: tcp_fin_timeout does not apply")
        checks.check("no timeout" in f["title"], "the title says there is no timeout", f["title"])
        checks.check("tcp_fin_timeout (30 s here) applies only to orphaned" in f["explanation"],
                     "explains why tcp_fin_timeout does not apply", f["explanation"])
        peers = " ".join(f["evidence"].get("local_peer_holders", []))
        checks.check(f"pid {sleepy.pid} (sd-sleepy) in CLOSE-WAIT" in peers,
                     "names the local process at the other end", peers)
        age = f["oldest_age_seconds"]
        checks.check(age is not None and WAIT - 0.5 <= age <= elapsed + 0.5,
                     f"plausible age (between {WAIT} s and {elapsed:.1f} s)", f"got {age}")
        cw = [x for x in findings(doc, "close_wait_leak")
              if (x["process"] or {}).get("pid") == sleepy.pid]
        checks.equal(len(cw), 1, "the sleeper's CLOSE_WAIT is reported too")

        rc, out, err = sockdoctor_text(sd, "check", "--min-age", "1")
        checks.check(f"pid {half.pid} (sd-halfcloser)" in out and f"pid {sleepy.pid} (sd-sleepy)" in out,
                     "the text report names both processes", out[:3000])

        rc, doc, raw, err = sockdoctor_check(sd, "--min-age", "3600")
        checks.equal(findings(doc, "fin_wait2_half_closed"), [],
                     "younger than --min-age: not reported")


if __name__ == "__main__":
    harness.main_wrapper("check_fin_wait2", body)
