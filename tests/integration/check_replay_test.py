#!/usr/bin/env python3
"""`sockdoctor check` on a recorded sock_diag dump (tests/fixtures/netlink/all_states.bin, the
state farm on 127.0.0.1 and ::1): deterministic findings from real kernel replies, no root and
no namespace needed. The recording has no owners, so check must say they were not looked up."""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

FIXTURE = os.path.join(HERE, "..", "fixtures", "netlink", "all_states.bin")


def check(sd, *args):
    r = subprocess.run([sd, "--replay", FIXTURE, "check", *args], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                       env=dict(os.environ, NO_COLOR="1"))
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def by_id(doc, fid):
    return [f for f in doc["findings"] if f["id"] == fid]


def main():
    args = harness.parse_args("check_replay")
    checks = harness.Checks("check_replay", args.verbose)
    sd = args.sockdoctor
    if not os.path.exists(FIXTURE):
        harness.skip(f"fixture {FIXTURE} is missing")

    rc, out, err = check(sd, "--json", "--min-age", "0")
    try:
        doc = json.loads(out)
    except json.JSONDecodeError as e:
        harness.fail(f"invalid JSON ({e}): {out[:2000]} {err}")
    checks.equal(rc, 2, "exit status 2: two listeners with a full accept queue")
    checks.equal(doc["schema_version"], 1, "schema_version 1")
    checks.equal(doc["summary"]["total_sockets"], 32, "32 sockets in the recording")
    checks.equal(doc["summary"]["states"]["close_wait"], 4, "4 CLOSE_WAIT")
    checks.equal(doc["summary"]["owners"]["scanned"], False, "owners were not looked up")

    full = sorted(f["evidence"]["listener"] for f in by_id(doc, "listen_queue_full"))
    checks.equal(full, ["127.0.0.1:5002", "[::1]:5002"], "both listen(0) listeners are full")
    checks.check(all(f["severity"] == "critical" for f in by_id(doc, "listen_queue_full")),
                 "a full accept queue is critical")

    cw = by_id(doc, "close_wait_leak")
    if checks.equal(len(cw), 1, "one CLOSE_WAIT group (one unseen holder, uid 0)"):
        ev = cw[0]["evidence"]
        checks.equal(cw[0]["count"], 4, "4 CLOSE_WAIT sockets")
        checks.equal((ev["recv_q_eof_unread"], ev["recv_q_data_unread"]), (2, 2),
                     "Recv-Q: 2 with only the FIN unread, 2 with data before it")
        checks.check("owners were not looked up" in cw[0]["title"],
                     "the title does not blame privileges", cw[0]["title"])

    stuck = by_id(doc, "stuck_close")
    checks.equal(len(stuck), 4, "FIN_WAIT1 and LAST_ACK behind a zero window, v4 and v6")
    checks.check(all(f["evidence"]["zero_window"] == 1 and f["evidence"]["unacked_bytes"] == 4096
                     for f in stuck), "each waits on a zero window with 4096 bytes unacknowledged")

    held = by_id(doc, "fin_wait2_half_closed")
    if checks.equal(len(held), 1, "one half-closed FIN_WAIT2 group"):
        checks.equal(held[0]["count"], 4, "4 half-closed FIN_WAIT2 sockets")
        checks.equal(held[0]["evidence"]["bounded"], False, "unbounded")

    rc, out, err = check(sd, "--json")
    doc2 = json.loads(out)
    checks.equal(by_id(doc2, "close_wait_leak"), [], "the default --min-age 60 hides sub-second CLOSE_WAIT")
    checks.equal(rc, 2, "still critical: the full queues do not depend on age")

    rc, out, err = check(sd, "--min-age", "0")
    checks.check(out.startswith("CRITICAL: 2 critical"), "text header", out[:300])
    checks.check("note      owning processes were not looked up" in out, "the text says why no owners",
                 out[:600])
    checks.check(all(len(line) <= 80 for line in out.splitlines()), "text fits 80 columns")
    checks.finish()


if __name__ == "__main__":
    main()
