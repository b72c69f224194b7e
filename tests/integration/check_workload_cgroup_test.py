#!/usr/bin/env python3
"""Units from cgroups: a CLOSE_WAIT held by a process and an orphaned FIN_WAIT2 (no fd, no
process) are both named after the cgroup v2 scope they were created in.

As root the test makes a cgroup "sockdoctor-test-PID.scope" at the root of the cgroup2 hierarchy
(/sys/fs/cgroup, or /sys/fs/cgroup/unified in hybrid mode), moves a holder process into it before
it opens any socket (a socket keeps the cgroup of the process that created it), and removes the
cgroup at the end. The holder connects to its own listener, accepts, then closes the client end
with TCP_LINGER2 = 120 s: above 60 s the orphan stays a full FIN_WAIT2 socket, which carries its
cgroup id (INET_DIAG_CGROUP_ID); the accepted end sits in CLOSE_WAIT, held by the holder.
check --json and ls --json must name the scope for both: the held one from /proc/PID/cgroup, the
orphan from its cgroup id through the cgroup2 walk. Skips (77) without root or without a writable
cgroup2 hierarchy."""

import errno
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "check"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from holders import Holder, findings, sockdoctor_check, sockdoctor_text  # noqa: E402

HOLDER = r'''
with open(ARGS["procs"], "w") as f:      # into the test's cgroup before any socket exists
    f.write(str(os.getpid()))
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(4)
c = socket.create_connection(srv.getsockname())
a, _ = srv.accept()
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_LINGER2, 120)
port = c.getsockname()[1]
c.close()                                # orphan: FIN_WAIT2 for 60 s as a full socket
ready(client_port=port, server_port=srv.getsockname()[1])
hold()                                   # keeps `a` in CLOSE_WAIT
'''


def cgroup2_mount():
    with open("/proc/self/mounts") as f:
        mounts = [line.split()[1] for line in f if line.split()[2:3] == ["cgroup2"]]
    for m in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        if m in mounts:
            return m
    return None


def make_cgroup():
    if os.geteuid() != 0:
        harness.skip("needs root to create a cgroup")
    mount = cgroup2_mount()
    if mount is None:
        harness.skip("no cgroup2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified")
    name = f"sockdoctor-test-{os.getpid()}.scope"
    path = os.path.join(mount, name)
    try:
        os.mkdir(path)
    except OSError as e:
        harness.skip(f"cannot create a cgroup under {mount}: {e.strerror}")
    return name, path


def remove_cgroup(path):
    for _ in range(50):  # the holder's exit is seen by the cgroup a moment after wait() returns
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY:
                raise
            time.sleep(0.1)
    print(f"WARNING: could not remove {path}")


def unit_of(obj):
    return ((obj or {}).get("workload") or {}).get("unit")


def body(args, checks):
    sd = args.sockdoctor
    name, path = make_cgroup()
    try:
        with Holder("sd-scoped", HOLDER, {"procs": os.path.join(path, "cgroup.procs")}) as h:
            with open(f"/proc/{h.pid}/cgroup") as f:
                checks.check(f"::/{name}" in f.read(), "the holder runs in the test cgroup")
            cport, sport = h.info["client_port"], h.info["server_port"]
            # The peer's ACK of our FIN may not be processed yet on a loaded box (FIN_WAIT1):
            # wait for the states rather than read them once.
            want = {("fin_wait2", cport), ("close_wait", sport)}
            deadline = time.monotonic() + 10
            while True:
                states = {(s.state, s.local[1]) for s in harness.run_ss(False)}
                if want <= states or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            checks.check(want <= states,
                         "ss sees the orphaned FIN_WAIT2 and the held CLOSE_WAIT", str(states))

            rc, doc, raw, err = sockdoctor_check(sd, "--min-age", "0")
            leak = [f for f in findings(doc, "close_wait_leak")
                    if (f["process"] or {}).get("pid") == h.pid]
            if checks.equal(len(leak), 1, "one close_wait_leak for the holder"):
                checks.equal(unit_of(leak[0]), name, "the CLOSE_WAIT finding names the scope")
            orphan = findings(doc, "fin_wait2_orphaned")
            if checks.equal(len(orphan), 1, "one fin_wait2_orphaned finding (its peer is local)"):
                checks.equal(orphan[0]["process"], None, "no process holds the orphan")
                checks.equal(unit_of(orphan[0]), name, "the orphan finding names the scope")
            if not leak or not orphan:
                print(raw[:4000], err)

            rc, out, err = sockdoctor_text(sd, "check", "--min-age", "0")
            checks.check(f"unit      {name}" in out, "the text report has a unit line", out[:3000])

            doc = harness.sockdoctor_json(sd, "ls", "--json")
            by_port = {(s["state"], s["local"]["port"]): s for s in doc["sockets"]}
            held = by_port.get(("close_wait", sport))
            orph = by_port.get(("fin_wait2", cport))
            if checks.check(held is not None and orph is not None, "ls lists both sockets"):
                owners = held["owners"]
                checks.equal([unit_of(o) for o in owners], [name], "ls: the owner's workload")
                checks.equal((orph["inode"], orph["owners"]), (0, []), "ls: the orphan has no owner")
                checks.equal(unit_of(orph), name, "ls: the orphan's workload, from its cgroup id")
            # A control: the test's own sockets are not in that scope.
            with socket.socket() as mine:
                mine.bind(("127.0.0.1", 0))
                mine.listen(1)
                doc = harness.sockdoctor_json(sd, "ls", "--json", "--state", "listen")
                lst = [s for s in doc["sockets"] if s["local"]["port"] == mine.getsockname()[1]]
                checks.check(len(lst) == 1 and all(unit_of(o) != name for o in lst[0]["owners"]),
                             "a socket made outside the scope is not attributed to it", str(lst))
    finally:
        remove_cgroup(path)


if __name__ == "__main__":
    harness.main_wrapper("check_workload_cgroup", body)
