#!/usr/bin/env python3
"""`sockdoctor serve` hosts the eBPF state register (issue 12) on a private bpffs while it runs:
a CLOSE_WAIT made after it started gets an exact oldest age (within 50 ms of the truth), one made
before keeps its estimate, and a server-side TIME_WAIT is exported under the process that closed
first (attribution="traced"). Its pins are gone once it stops."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import servekit  # noqa: E402
import tracekit  # noqa: E402

TOLERANCE_S = 0.050


def scrape(exp):
    before = tracekit.boottime()
    status, _, raw = servekit.get(exp.url())
    after = tracekit.boottime()
    return status, servekit.parse(raw.decode()) if status == 200 else [], before, after


def body(args, checks):
    sd = args.sockdoctor
    bpffs = tracekit.mount_bpffs()
    pin_root = os.path.join(bpffs, "sd")
    actors = []

    def actor(name):
        a = tracekit.Actor(name)
        actors.append(a)
        return a

    exp = None
    try:
        old_srv, old_cli = actor("sd-old-srv"), actor("sd-old-cli")
        lst = old_srv.do("listen", port=9310)["sock"]
        c = old_cli.do("connect", port=9310)
        old_srv.do("accept", listener=lst)
        old_cli.do("close", sock=c["sock"])
        t_old = tracekit.boottime()

        exp = servekit.Exporter(sd, "--min-interval", "0", register=pin_root)
        if not any("hosting the eBPF state register" in l for l in exp.stderr_lines):
            tracekit.skip_or_fail("serve cannot host the register here: "
                                  + " | ".join(exp.stderr_lines))
        checks.check(os.path.isdir(os.path.join(pin_root, "register")),
                     "the register is pinned under the given root")

        cw_srv, cw_cli = actor("sd-cw-srv"), actor("sd-cw-cli")
        lst = cw_srv.do("listen", port=9311)["sock"]
        cli = cw_cli.do("connect", port=9311)
        cw_srv.do("accept", listener=lst)
        # The CLOSE_WAIT begins inside the client's close(): between the actor's two clock reads.
        t_cw0, t_cw1 = tracekit.span(cw_cli.do("close", sock=cli["sock"]))
        tw_srv, tw_cli = actor("sd-tw-srv"), actor("sd-tw-cli")
        lst = tw_srv.do("listen", port=9312)["sock"]
        cli = tw_cli.do("connect", port=9312)
        acc = tw_srv.do("accept", listener=lst)
        tw_srv.do("close", sock=acc["sock"])  # the server closes first: its TIME_WAIT
        time.sleep(0.3)
        tw_cli.do("close", sock=cli["sock"])
        time.sleep(1.0)

        status, samples, before, after = scrape(exp)
        checks.equal(status, 200, "GET /metrics answers 200")
        checks.equal(servekit.value(samples, "sockdoctor_register_up"), 1.0,
                     "sockdoctor_register_up 1")
        checks.equal(servekit.value(samples, "sockdoctor_register_capacity_entries"), 131072.0,
                     "the register's capacity is exported")
        gave_up = {n: servekit.value(samples, f"sockdoctor_register_{n}_total")
                   for n in ("evictions", "not_stored", "reclaimed")}
        checks.check(all(v is not None and v >= 0 for v in gave_up.values()),
                     "what the register gave up is exported (evictions, not stored, reclaimed)",
                     repr(gave_up))
        traced = servekit.value(samples, "sockdoctor_register_traced_sockets") or 0
        checks.check(traced >= 2, "the register knew the new sockets", f"{traced}")
        age = servekit.value(samples, "sockdoctor_holder_oldest_socket_age_seconds",
                             owner="process", comm="sd-cw-srv")
        lo, hi = before - t_cw1 - TOLERANCE_S, after - t_cw0 + TOLERANCE_S
        checks.check(age is not None and lo <= age <= hi,
                     "the new CLOSE_WAIT's age is exact (within 50 ms)",
                     f"{age} not in [{lo:.3f}, {hi:.3f}]")
        old_age = servekit.value(samples, "sockdoctor_holder_oldest_socket_age_seconds",
                                 owner="process", comm="sd-old-srv")
        checks.check(old_age is not None and old_age <= after - t_old + TOLERANCE_S,
                     "the older CLOSE_WAIT keeps its estimate (a lower bound)", f"{old_age}")
        tw = servekit.value(samples, "sockdoctor_time_wait_sockets", attribution="traced",
                            comm="sd-tw-srv")
        checks.equal(tw, 1.0, "the TIME_WAIT is exported under the process that closed first")
        checks.equal(exp.stop(), 0, "serve exits 0 on SIGTERM")
        exp = None
        left = os.listdir(pin_root) if os.path.isdir(pin_root) else []
        checks.equal(left, [], "its pins are removed when it stops")
    finally:
        if exp:
            exp.stop()
        for a in actors:
            a.close()
        os.system(f"umount -l {bpffs} 2>/dev/null; rmdir {bpffs} 2>/dev/null")


if __name__ == "__main__":
    tracekit.in_private_mount_ns()
    harness.main_wrapper("serve_register", body)
