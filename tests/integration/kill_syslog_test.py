"""`sockdoctor kill --yes` audits to syslog: one line per destroyed socket reaches /dev/log.

This machine kind has no /dev/log, so the test gives sockdoctor one of its own: in a private
mount namespace (`unshare -m`, nothing of the host's /dev changes) a tmpfs covers /dev and a
datagram socket is bound at /dev/log, as a syslog daemon would. kill runs there without
--audit-file (so syslog is its only audit) and the test reads what arrived."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

# Runs inside `unshare -m`: a private /dev with a syslog socket, kill, then the datagrams.
SYSLOGD = r'''
import json, os, socket, subprocess, sys, time
subprocess.run(["mount", "--make-rprivate", "/"], check=True)
subprocess.run(["mount", "-t", "tmpfs", "sd-test-dev", "/dev"], check=True)
log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
log.bind("/dev/log")
log.settimeout(0.5)
r = subprocess.run(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE, text=True, timeout=60)
lines, deadline = [], time.monotonic() + 3
while time.monotonic() < deadline:
    try:
        lines.append(log.recv(65536).decode(errors="replace"))
    except socket.timeout:
        if lines:
            break
print(json.dumps({"rc": r.returncode, "out": r.stdout, "err": r.stderr, "syslog": lines}))
'''


def body(args, checks):
    if shutil.which("unshare") is None:
        harness.skip("unshare (util-linux) is not installed")
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    clients = []
    for _ in range(3):
        c = socket.socket()
        c.connect(("127.0.0.1", port))
        clients.append(c)
    for _ in range(3):
        srv.accept()[0].close()  # our server closes: the clients go to CLOSE_WAIT
    deadline = time.monotonic() + 10
    while len([s for s in harness.run_ss() if s.state == "close_wait"]) < 3:
        if time.monotonic() > deadline:
            harness.fail("the three clients never reached CLOSE_WAIT")
        time.sleep(0.05)
    cports = sorted(c.getsockname()[1] for c in clients)
    host_dev_log = os.path.lexists("/dev/log")
    r = subprocess.run(["unshare", "-m", sys.executable, "-c", SYSLOGD, args.sockdoctor, "kill",
                        "--state", "close-wait", "--peer", f"127.0.0.1:{port}", "--yes"],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        checks.check(False, "a private /dev with a syslog socket could be made", r.stderr[-600:])
        return
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    checks.equal(doc["rc"], 0, "kill --yes with syslog only (no --audit-file) exits 0")
    audit = [m for m in doc["syslog"] if "sockdoctor-kill" in m]
    checks.equal(len(audit), 3, "one syslog line per destroyed socket")
    checks.check(all("result=destroyed" in m and "state=close_wait" in m for m in audit),
                 "each line says destroyed and the state", "\n     ".join(audit))
    # <PRI>: LOG_AUTHPRIV (10) * 8 + LOG_NOTICE (5) = 85; the tag names sockdoctor and its pid.
    checks.check(all(m.startswith("<85>") and "sockdoctor[" in m for m in audit),
                 "priority authpriv.notice, tag sockdoctor[pid]", "\n     ".join(audit))
    logged = sorted(int(p) for m in audit for p in
                    [m.split(" local=127.0.0.1:")[1].split()[0]] if " local=127.0.0.1:" in m)
    checks.equal(logged, cports, "the lines name exactly the destroyed sockets (local ports)")
    left = [s for s in harness.run_ss() if s.state == "close_wait"]
    checks.equal(left, [], "ss: no CLOSE_WAIT left")
    import stat
    checks.check(os.path.lexists("/dev/log") == host_dev_log
                 and stat.S_ISCHR(os.stat("/dev/null").st_mode),
                 "the host's /dev is untouched (its /dev/log as before, /dev/null a device)")
    for c in clients:
        c.close()


if __name__ == "__main__":
    harness.main_wrapper("kill_syslog", body)
