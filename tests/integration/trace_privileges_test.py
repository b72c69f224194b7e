#!/usr/bin/env python3
"""Without the privileges eBPF needs, `sockdoctor trace` prints one clear line naming what is
missing and exits 77; the rest of sockdoctor keeps working (ls as before).

As `nobody` (setpriv): without capabilities; with CAP_BPF alone (then CAP_PERFMON is named);
with CAP_BPF + CAP_PERFMON trace runs, but without CAP_SYSLOG /proc/kallsyms hides
tw_timer_handler, so it says that TIME_WAIT is not traced. The binary is copied to a directory
nobody can read."""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import tracekit  # noqa: E402

NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups"]


def as_nobody(sd, caps, *args, timeout=60):
    extra = [f"--inh-caps=+{caps}", f"--ambient-caps=+{caps}"] if caps else ["--inh-caps=-all"]
    return subprocess.run(["setpriv", *NOBODY, *extra, sd, *args], capture_output=True,
                          text=True, timeout=timeout)


def setpriv_knows(cap):
    r = subprocess.run(["setpriv", f"--inh-caps=+{cap}", "true"], capture_output=True, text=True)
    return r.returncode == 0


def one_line(checks, r, what, needle):
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    checks.equal(r.returncode, 77, f"{what}: exit status 77")
    checks.equal(len(lines), 1, f"{what}: exactly one line on stderr")
    checks.check(any(needle in x for x in lines), f"{what}: names {needle}", r.stderr)
    checks.equal(r.stdout, "", f"{what}: nothing on stdout")


def body(args, checks):
    if shutil.which("setpriv") is None:
        harness.skip("setpriv (util-linux) is not installed")
    d = tempfile.mkdtemp(prefix="sd-priv-")
    os.chmod(d, 0o755)
    sd = os.path.join(d, "sockdoctor")
    shutil.copy(args.sockdoctor, sd)
    os.chmod(sd, 0o755)
    try:
        r = as_nobody(sd, "", "trace")
        one_line(checks, r, "no capabilities", "CAP_BPF and CAP_PERFMON")
        if setpriv_knows("bpf") and setpriv_knows("perfmon"):
            r = as_nobody(sd, "bpf", "trace")
            one_line(checks, r, "CAP_BPF only", "lacks CAP_PERFMON")
            r = as_nobody(sd, "bpf,+perfmon", "trace", "--duration", "0.5", "-q")
            if r.returncode == 77 and "CAP_" in r.stderr and not tracekit.bpf_required():
                print(f"note: trace needs more than CAP_BPF+CAP_PERFMON here: {r.stderr.strip()}")
            else:
                checks.equal(r.returncode, 0, "CAP_BPF + CAP_PERFMON: trace runs")
                checks.check("TIME_WAIT is not traced" in r.stderr and "CAP_SYSLOG" in r.stderr,
                             "...and says TIME_WAIT needs CAP_SYSLOG", r.stderr)
                checks.check("TIME_WAIT not traced" in r.stdout, "the summary says it too",
                             r.stdout)
        else:
            print("note: this setpriv does not know CAP_BPF/CAP_PERFMON; those cases are skipped")
        r = as_nobody(sd, "", "ls", "--no-owners")
        checks.equal(r.returncode, 0, "ls still works as nobody (no eBPF needed)")
        checks.check(r.stdout.startswith("State"), "ls prints its table", r.stdout[:200])
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    harness.main_wrapper("trace_privileges", body)
