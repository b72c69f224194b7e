#!/usr/bin/env python3
"""`sockdoctor kill` in a private namespace: a client ("sd-leaker") leaks CLOSE_WAIT sockets next
to an innocent client ("sd-innocent") of the same server and the server's listener.

- the dry run destroys nothing and lists exactly the leaker's CLOSE_WAIT sockets;
- LISTEN is never selected unless --state names it;
- `--yes` destroys exactly those (ss agrees), at most --rate per second, the listener and every
  other socket survive, the leaker sees ECONNABORTED on its next write while its fd stays open,
  and the audit file (0600) has one line per socket;
- a destroy request whose cookie belongs to a socket that no longer exists, for a 4-tuple a new
  connection now holds (same local port, bound again), is answered "stale" and the new
  connection survives (tests/tools/destroy_one drives the netlink layer directly);
- a socket bound to a device (SO_BINDTODEVICE lo) is found and destroyed;
- without CAP_NET_ADMIN the result is not_permitted (exit 77) and the socket survives;
- without a syslog socket and without --audit-file, kill refuses to act.
Syslog itself is checked by kill_syslog_test.py (a private /dev with its own /dev/log).
"""

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures", "check"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from holders import Holder  # noqa: E402

N = 3

CLIENT = r'''
port = ARGS["port"]
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(ARGS["n"])]
ready(ports=[s.getsockname()[1] for s in socks])
# The test writes one line on stdin once it has destroyed our sockets: then try each socket.
if select.select([sys.stdin], [], [], MAX_HOLD)[0]:
    sys.stdin.readline()
    seen = []
    for s in socks:
        try:
            s.send(b"x")
            seen.append("sent")
        except OSError as e:
            seen.append(errno.errorcode.get(e.errno, str(e.errno)))
        try:
            os.fstat(s.fileno())
            seen[-1] += "+fd_open"
        except OSError:
            seen[-1] += "+fd_closed"
    print(json.dumps({"after": seen}), flush=True)
hold()
'''


def sd_run(sd, *args, env=None, prefix=()):
    r = subprocess.run([*prefix, sd, *args], capture_output=True, text=True, timeout=60, env=env)
    return r.returncode, r.stdout, r.stderr


def tuples(doc):
    return sorted((s["local"], s["peer"]) for s in doc["sockets"])


def ss_tuples(state=None):
    return sorted((f"{s.local[0]}:{s.local[1]}", f"{s.peer[0]}:{s.peer[1]}")
                  for s in harness.run_ss() if state is None or s.state == state)


def ss_all():
    return {(f"{s.local[0]}:{s.local[1]}", f"{s.peer[0]}:{s.peer[1]}"): s.state for s in harness.run_ss()}


def await_close_wait(want, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(ss_tuples("close_wait")) >= want:
            return
        time.sleep(0.05)
    harness.fail(f"never saw {want} CLOSE_WAIT sockets: {ss_all()}")


def check_dry_run_and_yes(sd, checks, audit):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    port = srv.getsockname()[1]
    with Holder("sd-leaker", CLIENT, {"port": port, "n": N}) as leaker, \
            Holder("sd-innocent", CLIENT, {"port": port, "n": 1}):
        conns = [srv.accept()[0] for _ in range(N + 1)]
        for c in conns:
            c.shutdown(socket.SHUT_WR)  # our FIN: both clients' sockets go to CLOSE_WAIT
        await_close_wait(N + 1)
        before = ss_all()
        leaked = sorted((f"127.0.0.1:{p}", f"127.0.0.1:{port}") for p in leaker.info["ports"])

        rc, out, err = sd_run(sd, "kill", "--state", "close-wait", "--comm", "sd-leaker", "--json")
        checks.equal(rc, 0, "dry run exits 0")
        doc = json.loads(out)
        checks.equal(doc["dry_run"], True, "dry run says so")
        checks.equal(tuples(doc), leaked, "dry run lists exactly the leaker's CLOSE_WAIT sockets")
        checks.equal(ss_all(), before, "dry run destroyed nothing (ss unchanged)")

        rc, out, err = sd_run(sd, "kill", "--state", "close-wait", "--comm", "sd-leaker")
        checks.check("Dry run: 3 sockets would be destroyed" in out and "a RST is sent" in out,
                     "text dry run counts them and says what destroying does", out + err)

        rc, out, err = sd_run(sd, "kill", "--port", str(port), "--json")
        states = {s["state"] for s in json.loads(out)["sockets"]}
        checks.check("listen" not in states and "close_wait" in states,
                     "without --state listen, the listener is not selected", str(states))
        rc, out, err = sd_run(sd, "kill", "--state", "listen", "--port", str(port), "--json")
        checks.equal([s["state"] for s in json.loads(out)["sockets"]], ["listen"],
                     "--state listen names it explicitly")
        rc, out, err = sd_run(sd, "kill")
        checks.equal(rc, 64, "kill with no selection at all is a usage error")

        t0 = time.monotonic()
        rc, out, err = sd_run(sd, "kill", "--state", "close-wait", "--comm", "sd-leaker", "--yes",
                              "--json", "--audit-file", audit, "--rate", "4")
        took = time.monotonic() - t0
        checks.equal(rc, 0, "--yes exits 0 when every matched socket is destroyed")
        checks.check(took >= 0.45, "--rate 4: three destroys take at least 0.5 s (0, 0.25, 0.5)",
                     f"{took:.2f} s")
        doc = json.loads(out)
        checks.equal([s["result"] for s in doc["sockets"]], ["destroyed"] * N,
                     "every matched socket: destroyed")
        time.sleep(0.2)
        after = ss_all()
        gone = [t for t in leaked if t in after]
        checks.equal(gone, [], "ss: the leaker's CLOSE_WAIT sockets are gone")
        expect = {t: s for t, s in before.items() if t not in leaked
                  and (t[1], t[0]) not in leaked}  # our accepted ends get the RST
        survivors = {t: after.get(t) for t in expect}
        checks.equal(survivors, expect, "ss: the listener and every other socket survive")
        checks.check(any(t[0] == f"127.0.0.1:{port}" and st == "listen" for t, st in after.items()),
                     "the listener is alive", str(after))

        leaker.proc.stdin.write(b"go\n")
        leaker.proc.stdin.flush()
        seen = json.loads(leaker.proc.stdout.readline())["after"]
        checks.equal(seen, ["ECONNABORTED+fd_open"] * N,
                     "the leaker's next write fails with ECONNABORTED; its fd stays open")

        st = os.stat(audit)
        checks.equal(stat.S_IMODE(st.st_mode), 0o600, "audit file created 0600")
        lines = open(audit).read().splitlines()
        checks.equal(len(lines), N, "one audit line per socket")
        for cookie, line in zip([s["cookie"] for s in doc["sockets"]], lines):
            checks.check(line.startswith("sockdoctor-kill result=destroyed errno=0 uid=0 ")
                         and f"cookie={cookie} state=close_wait" in line and "cmd=\"" in line
                         and "--comm sd-leaker" in line and "owner=\"" in line,
                         "audit line names result, who, the cookie, state and command", line)

        rc, out, err = sd_run(sd, "kill", "--state", "close-wait", "--comm", "sd-leaker", "--yes",
                              "--audit-file", audit)
        checks.check(rc == 0 and "No socket matches" in out, "a second --yes finds nothing",
                     out + err)
        for c in conns:
            c.close()
    srv.close()


def check_stale_cookie(sd, checks):
    tool = os.path.join(os.path.dirname(os.path.dirname(sd)), "tests", "destroy_one")
    if not os.access(tool, os.X_OK):
        checks.check(False, f"{tool} is built", "")
        return
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)

    def connect_from(port):
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        c.bind(("127.0.0.1", port))
        c.connect(srv.getsockname())
        return c, srv.accept()[0]

    old, old_peer = connect_from(0)
    local = "127.0.0.1:%d" % old.getsockname()[1]
    peer = "127.0.0.1:%d" % srv.getsockname()[1]
    doc = json.loads(sd_run(sd, "ls", "--json", "--port", local.split(":")[1])[1])
    cookie = next(s["cookie"] for s in doc["sockets"]
                  if f"{s['local']['addr']}:{s['local']['port']}" == local)
    # SO_LINGER {1, 0}: close() sends a RST and leaves no TIME_WAIT, so the port is free again.
    old.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    old.close()
    old_peer.close()
    new, new_peer = connect_from(int(local.split(":")[1]))
    doc = json.loads(sd_run(sd, "ls", "--json", "--port", local.split(":")[1])[1])
    now = [s for s in doc["sockets"] if f"{s['local']['addr']}:{s['local']['port']}" == local]
    if not checks.check(len(now) == 1 and now[0]["cookie"] != cookie,
                        "the same 4-tuple now has a new socket with another cookie", str(now)):
        return
    raw = json.loads(subprocess.run([tool, local, peer, cookie, "--raw"], capture_output=True,
                                    text=True, timeout=30).stdout)
    checks.equal((raw["outcome"], raw["errno_name"], raw["sent"]), ("stale", "ENOENT", True),
                 "SOCK_DESTROY with the old cookie: the kernel refuses (ENOENT), reported stale")
    checks.equal(raw["other_cookie"], now[0]["cookie"], "and names the cookie found instead")
    verified = json.loads(subprocess.run([tool, local, peer, cookie], capture_output=True,
                                         text=True, timeout=30).stdout)
    checks.equal((verified["outcome"], verified["sent"]), ("stale", False),
                 "the verified path (what kill --yes does) never even sends it")
    checks.check((local, peer) in ss_tuples("established"), "the new connection survives",
                 str(ss_all()))
    for s in (new, new_peer, srv):
        s.close()


def check_not_permitted(sd, checks, tmp):
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        print("note: setpriv (util-linux) missing: not_permitted not tested")
        return
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    c = socket.create_connection(srv.getsockname())
    s = srv.accept()[0]
    s.shutdown(socket.SHUT_WR)
    await_close_wait(1)
    audit = os.path.join(tmp, "nobody.log")
    rc, out, err = sd_run(sd, "kill", "--state", "close-wait", "--yes", "--json", "--audit-file",
                          audit, prefix=(setpriv, "--reuid=65534", "--regid=65534",
                                         "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"))
    if rc == 126 or "Permission denied" in err and not out:
        print(f"note: the binary is not executable by nobody here: not_permitted not tested ({err})")
    else:
        checks.check(rc == 77, "without CAP_NET_ADMIN: exit 77", f"rc {rc}: {out}{err}")
        results = [x["result"] for x in json.loads(out)["sockets"]] if out else []
        checks.equal(results, ["not_permitted"], "the result says not_permitted (EPERM)")
        checks.check(len(ss_tuples("close_wait")) == 1, "and the socket survives", str(ss_all()))
    for x in (c, s, srv):
        x.close()


def check_bound_device(sd, checks, audit):
    """A socket bound to a device (SO_BINDTODEVICE) is found by SOCK_DESTROY's 4-tuple lookup
    only with its ifindex: without it, kill reported such a socket already gone and left it."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"lo")
    c.connect(srv.getsockname())
    s = srv.accept()[0]
    s.close()  # the server closes first: the bound client is left in CLOSE_WAIT
    await_close_wait(1)
    port = str(srv.getsockname()[1])
    rc, out, err = sd_run(sd, "kill", "--state", "close-wait", "--port", port, "--yes", "--json",
                          "--audit-file", audit)
    results = [x["result"] for x in json.loads(out)["sockets"]] if out else []
    checks.check((rc, results) == (0, ["destroyed"]),
                 "a CLOSE_WAIT socket bound to lo (SO_BINDTODEVICE) is destroyed",
                 f"rc {rc}, results {results}: {err}")
    checks.equal(ss_tuples("close_wait"), [], "ss: and it is gone")
    for x in (c, srv):
        x.close()


def check_refuses_unaudited(sd, checks):
    if os.path.exists("/dev/log"):
        print("note: /dev/log exists: --yes without --audit-file would act; not tested here")
        return
    print("note: no /dev/log on this machine: syslog audit lines cannot be observed")
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    c = socket.create_connection(srv.getsockname())
    s = srv.accept()[0]
    s.shutdown(socket.SHUT_WR)
    await_close_wait(1)
    rc, out, err = sd_run(sd, "kill", "--state", "close-wait", "--yes")
    checks.check(rc == 3 and "--audit-file" in err, "no syslog and no --audit-file: refuses",
                 f"rc {rc}: {out}{err}")
    checks.equal(len(ss_tuples("close_wait")), 1, "and destroys nothing")
    for x in (c, s, srv):
        x.close()


def body(args, checks):
    sd = args.sockdoctor
    with tempfile.TemporaryDirectory(prefix="sd-kill-") as tmp:
        os.chmod(tmp, 0o777)  # the not_permitted run (uid 65534) writes its audit file here
        check_dry_run_and_yes(sd, checks, os.path.join(tmp, "audit.log"))
        check_stale_cookie(sd, checks)
        check_bound_device(sd, checks, os.path.join(tmp, "bound.log"))
        check_not_permitted(sd, checks, tmp)
        check_refuses_unaudited(sd, checks)


if __name__ == "__main__":
    harness.main_wrapper("kill", body)
