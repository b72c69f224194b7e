#!/usr/bin/env python3
"""ls, check and top read exact ages and TIME_WAIT closers from a running state register.

With `sockdoctor trace --pin --register-only` hosting the register on a private bpffs, actor
processes make on loopback: a CLOSE_WAIT held by sd-cw-srv, a server-side TIME_WAIT closed first
by sd-tw-srv (close(): a FIN_WAIT2 mini-socket first), one by sd-hc-srv (shutdown(): the full
socket takes the peer's FIN), and one CLOSE_WAIT made before the register started (sd-old-srv).
Then:
  ls --json      the new CLOSE_WAIT and the half-closer's TIME_WAIT have age basis "traced",
                 exact (not a lower bound) and within 50 ms of what the test knows; the mini-
                 socket's TIME_WAIT is "traced" too, but a lower bound within 50 ms (the register
                 alone does not see the FIN reach a mini-socket: its timer says when); the older
                 socket keeps its estimate (last_ack, a lower bound); the TIME_WAIT names its
                 closer ("closed_by", and "closed by PID/comm" in the table)
  --register off the same sockets are estimated again (the register is what made them exact)
  check          the new holder's oldest CLOSE_WAIT is exact, the older holder's "at least"
  top --lines    the TIME_WAIT entry is attributed ("traced") to the pid that closed first"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import tracekit  # noqa: E402

TOLERANCE_S = 0.050


def by_cookie(doc: dict) -> dict:
    return {int(s["cookie"]): s for s in doc["sockets"]}


def timed_ls(sd, *args):
    """(sockets by cookie, boottime before, boottime after) of one `ls --json`."""
    before = tracekit.boottime()
    doc = harness.sockdoctor_json(sd, *args, "ls", "--json", "--state", "close-wait,time-wait")
    return by_cookie(doc), before, tracekit.boottime()


def check_exact(checks, sock, what, entered, before, after, lower_bound=False):
    if not checks.check(sock is not None, f"{what}: listed"):
        return
    age = sock["age"]
    checks.equal(age["basis"], "traced", f"{what}: age basis")
    checks.equal(age["lower_bound"], lower_bound,
                 f"{what}: " + ("a lower bound" if lower_bound else "exact, not a lower bound"))
    # entered is the (before, after) span of the syscall that began the state: on a loaded box
    # the actor can be preempted on either side of it.
    lo, hi = before - entered[1] - TOLERANCE_S, after - entered[0] + TOLERANCE_S
    checks.check(age["seconds"] is not None and lo <= age["seconds"] <= hi,
                 f"{what}: age within 50 ms of the truth", f"{age} not in [{lo:.3f}, {hi:.3f}]")


def make_sockets(kit):
    cw_srv, cw_cli = kit.actor("sd-cw-srv"), kit.actor("sd-cw-cli")
    lst = cw_srv.do("listen", port=9211)["sock"]
    cli = cw_cli.do("connect", port=9211)
    cw = cw_srv.do("accept", listener=lst)
    t_cw = tracekit.span(cw_cli.do("close", sock=cli["sock"]))
    tw_srv, tw_cli = kit.actor("sd-tw-srv"), kit.actor("sd-tw-cli")
    lst = tw_srv.do("listen", port=9212)["sock"]
    cli = tw_cli.do("connect", port=9212)
    acc = tw_srv.do("accept", listener=lst)
    tw_srv.do("close", sock=acc["sock"])  # the server closes first ...
    time.sleep(0.3)
    # ... its TIME_WAIT starts with this FIN
    t_tw = tracekit.span(tw_cli.do("close", sock=cli["sock"]))
    hc_srv, hc_cli = kit.actor("sd-hc-srv"), kit.actor("sd-hc-cli")
    lst = hc_srv.do("listen", port=9213)["sock"]
    cli = hc_cli.do("connect", port=9213)
    hc = hc_srv.do("accept", listener=lst)
    hc_srv.do("shutdown", sock=hc["sock"])  # half-closed: the full socket stays in FIN_WAIT2
    time.sleep(0.3)
    t_hc = tracekit.span(hc_cli.do("close", sock=cli["sock"]))
    return {"cw": (cw["cookie"], t_cw, cw_srv), "tw": (acc["cookie"], t_tw, tw_srv),
            "hc": (hc["cookie"], t_hc, hc_srv)}


def check_top(checks, sd, pin_root, tw_pid):
    r = harness.run_sockdoctor(sd, "--register", pin_root, "top", "--lines", "--json", "-n", "1")
    if not checks.check(r.rc == 0, "top --lines --json -n 1 runs", r.describe()):
        return
    line = json.loads(r.out.decode().splitlines()[-1])
    traced = [t for t in line["time_wait"] if t["how"] == "traced"]
    checks.check(any(t["pid"] == tw_pid and t["comm"] == "sd-tw-srv" for t in traced),
                 "top: the TIME_WAIT is attributed to the process that closed first",
                 str(line["time_wait"]))


def check_check(checks, sd, pin_root, new_pid, old_pid):
    r = harness.run_sockdoctor(sd, "--register", pin_root, "check", "--json", "--min-age", "0.5")
    if not checks.check(r.rc in (1, 2), "check reports the leaks (exit 1 or 2)", r.describe()):
        return
    doc = json.loads(r.out.decode())
    cw = {f["process"]["pid"]: f for f in doc["findings"]
          if f["id"] == "close_wait_leak" and f.get("process")}
    if checks.check(new_pid in cw and old_pid in cw, "check names both holders", str(cw.keys())):
        checks.equal(cw[new_pid]["oldest_age_lower_bound"], False, "check: traced age is exact")
        checks.equal(cw[old_pid]["oldest_age_lower_bound"], True,
                     "check: the socket older than the register is still a lower bound")


def body(args, checks):
    sd = args.sockdoctor
    bpffs = tracekit.mount_bpffs()
    pin_root = os.path.join(bpffs, "sd")
    actors = []

    class Actors:
        def actor(self, name):
            a = tracekit.Actor(name)
            actors.append(a)
            return a

    kit = Actors()
    tracer = None
    try:
        old_srv, old_cli = kit.actor("sd-old-srv"), kit.actor("sd-old-cli")
        lst = old_srv.do("listen", port=9210)["sock"]
        c = old_cli.do("connect", port=9210)
        old = old_srv.do("accept", listener=lst)
        old_cli.do("close", sock=c["sock"])
        tracer = tracekit.start_or_skip(sd, "--pin", "--pin-root", pin_root, "--register-only")
        made = make_sockets(kit)
        time.sleep(1.0)
        socks, before, after = timed_ls(sd, "--register", pin_root)
        cw_cookie, t_cw, cw_srv = made["cw"]
        tw_cookie, t_tw, tw_srv = made["tw"]
        check_exact(checks, socks.get(cw_cookie), "new CLOSE_WAIT", t_cw, before, after)
        check_exact(checks, socks.get(tw_cookie), "server-side TIME_WAIT after a mini-socket",
                    t_tw, before, after, lower_bound=True)
        hc_cookie, t_hc, hc_srv = made["hc"]
        check_exact(checks, socks.get(hc_cookie), "server-side TIME_WAIT of a half-closer", t_hc,
                    before, after)
        checks.equal(socks.get(hc_cookie, {}).get("closed_by"),
                     {"pid": hc_srv.pid, "comm": "sd-hc-srv"},
                     "ls --json: the half-closer's TIME_WAIT names it")
        tw = socks.get(tw_cookie, {})
        checks.equal(tw.get("closed_by"), {"pid": tw_srv.pid, "comm": "sd-tw-srv"},
                     "ls --json: the TIME_WAIT names the process that closed first (closed_by)")
        checks.equal(socks.get(cw_cookie, {}).get("closed_by"), None,
                     "a socket with an fd has owners, no closed_by")
        table = harness.run_sockdoctor(sd, "--register", pin_root, "ls", "-w", "--state",
                                       "time-wait")
        checks.check(f"closed by {tw_srv.pid}/sd-tw-srv" in table.out.decode(errors="replace"),
                     "ls -w: the TIME_WAIT row says who closed it", table.describe())
        older = socks.get(old["cookie"])
        if checks.check(older is not None, "the older CLOSE_WAIT is listed"):
            checks.equal(older["age"]["basis"], "last_ack", "older socket: estimated (last_ack)")
            checks.equal(older["age"]["lower_bound"], True, "older socket: a lower bound")
        off, _, _ = timed_ls(sd, "--register", "off")
        checks.equal(off.get(cw_cookie, {}).get("age", {}).get("basis"), "last_ack",
                     "--register off: the new CLOSE_WAIT is estimated again")
        check_check(checks, sd, pin_root, cw_srv.pid, old_srv.pid)
        check_top(checks, sd, pin_root, tw_srv.pid)
        checks.equal(tracer.stop(), 0, "the register's host exits 0")
        tracer = None
        after_stop, _, _ = timed_ls(sd, "--register", pin_root)
        checks.equal(after_stop.get(cw_cookie, {}).get("age", {}).get("basis"), "last_ack",
                     "with its host gone, ls estimates again (no stale pins are read)")
    finally:
        if tracer:
            tracer.cleanup()
        for a in actors:
            a.close()
        os.system(f"umount -l {bpffs} 2>/dev/null; rmdir {bpffs} 2>/dev/null")


if __name__ == "__main__":
    tracekit.in_private_mount_ns()
    harness.main_wrapper("ls_traced", body)
