#!/usr/bin/env python3
"""`sockdoctor lab close-wait --server nginx` killed with SIGKILL cannot remove nginx's temp
directory; the next lab run must (issue 15: it was left behind for good). Uses a private TMPDIR
so other runs on the machine are never touched."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def lab(sd: str, tmpdir: str) -> subprocess.Popen:
    env = dict(os.environ, TMPDIR=tmpdir)
    return subprocess.Popen([sd, "lab", "close-wait", "--fast", "--server", "nginx"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)


def main() -> None:
    args = harness.parse_args("lab_sigkill_test")
    if os.geteuid() != 0:
        harness.skip("sockdoctor lab needs root")
    if not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
        harness.skip("nginx is not installed")
    checks = harness.Checks("lab_sigkill_test", args.verbose)
    tmpdir = tempfile.mkdtemp(prefix="sdlabkill")
    pattern = os.path.join(tmpdir, "sockdoctor-lab-nginx-*")
    try:
        p = lab(args.sockdoctor, tmpdir)
        deadline = time.monotonic() + 30
        while not glob.glob(pattern) and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.1)
        left = glob.glob(pattern)
        checks.check(len(left) == 1, "the lab made its nginx directory", repr(left))
        p.send_signal(signal.SIGKILL)
        p.wait()
        time.sleep(0.5)  # nginx follows through PDEATHSIG
        checks.check(glob.glob(pattern) == left, "after SIGKILL the directory is left behind",
                     repr(glob.glob(pattern)))
        second = lab(args.sockdoctor, tmpdir)
        _, err = second.communicate(timeout=180)
        checks.equal(second.returncode, 0, "the next lab run passes")
        checks.check(not any(d in glob.glob(pattern) for d in left),
                     "the next lab run removed the abandoned directory", err.decode(errors="replace"))
        checks.equal(glob.glob(pattern), [], "and its own directory is gone at the end")
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    checks.finish()


if __name__ == "__main__":
    main()
