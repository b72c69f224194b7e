#!/usr/bin/env python3
"""`sockdoctor trace` ends cleanly on Ctrl-C, SIGTERM and a closed pipe: exit 0, the summary
written (when its stdout still works), every BPF program detached, its pins removed.

For SIGINT and SIGTERM: start with --pin on a private bpffs, make a few connections, send the
signal. For SIGPIPE: read the first lines of the table from a pipe, close the pipe, make more
connections; trace must notice the failed write and stop by itself."""

import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import tracekit  # noqa: E402


def churn(port: int, n: int) -> None:
    with socket.socket() as lst:
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # server-side TIME_WAITs
        lst.bind(("127.0.0.1", port))
        lst.listen(64)
        for _ in range(n):
            c = socket.create_connection(("127.0.0.1", port))
            s, _ = lst.accept()
            s.close()
            c.close()


def gone_within(pred, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def by_signal(checks, sd, pin_root, sig, port):
    name = signal.Signals(sig).name
    t = tracekit.start_or_skip(sd, "--pin", "--pin-root", pin_root)
    try:
        ids = tracekit.our_prog_ids(t.proc.pid)
        checks.check(len(ids) >= 2, f"{name}: programs attached while tracing", str(ids))
        checks.check(os.path.exists(os.path.join(pin_root, "register", "sockets")),
                     f"{name}: register pinned while tracing")
        churn(port, 5)
        rc = t.stop(sig)
        checks.equal(rc, 0, f"{name}: exit status 0")
        out = t.stdout_text()
        checks.check("-- " in out and "transitions in" in out, f"{name}: summary written",
                     out[-800:])
        checks.check("ESTAB -> FIN-WAIT-1" in out, f"{name}: the churn's transitions are shown",
                     out[:800])
        checks.equal(tracekit.still_loaded(ids), set(), f"{name}: every program detached")
        checks.check(not os.path.exists(os.path.join(pin_root, "register")),
                     f"{name}: pins removed")
    finally:
        t.cleanup()


def by_closed_pipe(checks, sd, port):
    proc = subprocess.Popen([sd, "-v", "trace"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        err = b""
        while b"register loaded" not in err and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            err += os.read(proc.stderr.fileno(), 4096)
        if proc.poll() is not None:
            if proc.returncode == 77:
                tracekit.skip_or_fail(err.decode(errors="replace"))
            raise harness.FarmError(f"trace exited {proc.returncode}: {err.decode()}")
        ids = tracekit.our_prog_ids(proc.pid)
        churn(port, 3)
        first = proc.stdout.readline()
        checks.check(first.startswith(b"TIME"), "SIGPIPE: the table starts with its header",
                     repr(first))
        proc.stdout.close()  # the reader goes away, like `| head`
        stopped = False
        for _ in range(20):  # writes fail only once there is something to write
            churn(port, 2)
            if gone_within(lambda: proc.poll() is not None, 0.5):
                stopped = True
                break
        checks.check(stopped, "SIGPIPE: trace stops when its pipe closes")
        if stopped:
            checks.equal(proc.returncode, 0, "SIGPIPE: exit status 0")
            checks.equal(tracekit.still_loaded(ids), set(), "SIGPIPE: every program detached")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def body(args, checks):
    sd = args.sockdoctor
    bpffs = tracekit.mount_bpffs()
    try:
        by_signal(checks, sd, os.path.join(bpffs, "sd"), signal.SIGINT, 9201)
        by_signal(checks, sd, os.path.join(bpffs, "sd"), signal.SIGTERM, 9202)
        by_closed_pipe(checks, sd, 9203)
    finally:
        os.system(f"umount -l {bpffs} 2>/dev/null; rmdir {bpffs} 2>/dev/null")


if __name__ == "__main__":
    tracekit.in_private_mount_ns()
    harness.main_wrapper("trace_signals", body)
