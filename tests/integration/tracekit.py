"""Shared parts of the trace_*_test.py tests: a private mount namespace with its own bpffs (so
pins never touch the host's /sys/fs/bpf), starting and stopping `sockdoctor trace`, the BPF
programs it attached, actors that own sockets, and the register_lookup tool."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

MNTNS_MARK = "SOCKDOCTOR_TEST_MNTNS"
HERE = os.path.dirname(os.path.abspath(__file__))


def bpf_required() -> bool:
    return os.environ.get("SOCKDOCTOR_REQUIRE_BPF") == "1"


def skip_or_fail(reason: str) -> None:
    if bpf_required():
        harness.fail(f"SOCKDOCTOR_REQUIRE_BPF=1 but: {reason}")
    harness.skip(reason)


def in_private_mount_ns() -> None:
    """Re-runs the script under `unshare -m` (private propagation) before harness makes the
    network namespace; bpffs mounted later is then seen by this process tree only."""
    if os.environ.get(MNTNS_MARK):
        return
    if os.geteuid() != 0:
        harness.skip("needs root (eBPF, namespaces)")
    unshare = shutil.which("unshare")
    if unshare is None:
        harness.skip("unshare (util-linux) is not installed")
    env = dict(os.environ, **{MNTNS_MARK: "1"})
    sys.stdout.flush()
    os.execvpe(unshare, [unshare, "-m", "--propagation", "private", "--", sys.executable,
                         os.path.abspath(sys.argv[0]), *sys.argv[1:]], env)


def mount_bpffs() -> str:
    d = tempfile.mkdtemp(prefix="sd-bpffs-")
    r = subprocess.run(["mount", "-t", "bpf", "bpf", d], capture_output=True, text=True)
    if r.returncode != 0:
        skip_or_fail(f"cannot mount bpffs: {r.stderr.strip()}")
    return d


def tool(sd: str, name: str) -> str:
    path = os.path.join(os.path.dirname(os.path.dirname(sd)), "tests", name)
    if not os.access(path, os.X_OK):
        harness.fail(f"{path} is missing: build the tests (it is built with them)")
    return path


def our_prog_ids(pid: int) -> set[int]:
    """Ids of the BPF programs process `pid` holds, from the fdinfo of its bpf-prog and
    bpf_link fds (bpftool 7.1 here lists no holder pids)."""
    ids = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
            if target not in ("anon_inode:bpf-prog", "anon_inode:bpf_link"):
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            continue
    return ids


def live_prog_ids() -> set[int]:
    """Every BPF program loaded on the host (bpftool builds the eBPF parts, so it is here)."""
    r = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise harness.FarmError(f"bpftool prog show: {r.stderr.strip()}")
    return {p["id"] for p in json.loads(r.stdout or "[]")}


def still_loaded(ids: set[int], within: float = 15.0) -> set[int]:
    """Those of `ids` still loaded after `within` seconds (the kernel frees programs a moment
    after their last reference goes, from a work queue and after an RCU grace period, which a
    loaded box may delay)."""
    deadline = time.monotonic() + within
    left = ids & live_prog_ids()
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = ids & live_prog_ids()
    return left


class Tracer:
    """`sockdoctor -v trace ARGS`, stdout to a file; ready once the register is attached."""

    def __init__(self, sd: str, *args: str, stdout=None):
        self.out_path = tempfile.mktemp(prefix="sd-trace-", suffix=".out")
        self.out = open(self.out_path, "wb") if stdout is None else None
        self.proc = subprocess.Popen([sd, "-v", "trace", *args], stdin=subprocess.DEVNULL,
                                     stdout=self.out if stdout is None else stdout,
                                     stderr=subprocess.PIPE)
        self.err = b""
        self._wait_ready()

    def _wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.err += self.proc.stderr.read()
                return
            ready, _, _ = __import__("select").select([self.proc.stderr], [], [], 0.2)
            if ready:
                chunk = os.read(self.proc.stderr.fileno(), 65536)
                self.err += chunk
                if b"register loaded" in self.err:
                    return
        self.stop(signal.SIGKILL)
        raise harness.FarmError(f"trace did not start within {timeout} s:\n{self.err.decode()}")

    @property
    def started(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGINT, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            self.err += b"\n(killed: did not stop within the timeout)"
        self.err += self.proc.stderr.read()
        if self.out:
            self.out.close()
        return rc

    def stdout_text(self) -> str:
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", errors="replace")

    def json_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout_text().splitlines() if line.strip()]

    def stderr_text(self) -> str:
        return self.err.decode("utf-8", errors="replace")

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.stop(signal.SIGKILL)
        if os.path.exists(self.out_path):
            os.unlink(self.out_path)


def start_or_skip(sd: str, *args: str) -> Tracer:
    t = Tracer(sd, *args)
    if not t.started:
        rc = t.stop()
        if rc == 77:
            skip_or_fail(f"trace cannot run here: {t.stderr_text().strip()}")
        raise harness.FarmError(f"trace exited {rc} at start:\n{t.stderr_text()}")
    return t


def span(reply: dict) -> tuple[float, float]:
    """(before, after) an actor's close or shutdown, CLOCK_BOOTTIME seconds: the truth of when a
    state began is that interval (the actor may be preempted on either side of the syscall)."""
    return reply["t0"], reply["t"]


class Actor:
    """One traceactor.py process: its pid and comm own the sockets it makes."""

    def __init__(self, name: str):
        self.name = name
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "traceactor.py"), name],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.pid = self.proc.pid

    def do(self, op: str, **kw) -> dict:
        self.proc.stdin.write(json.dumps({"op": op, **kw}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise harness.FarmError(f"actor {self.name} died during {op} {kw}")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def boottime() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def lookup(sd: str, pin_root: str, cookies: list[int]) -> tuple[dict, dict]:
    """(register info, {cookie: entry}) from the pinned register, via tests/register_lookup."""
    r = subprocess.run([tool(sd, "register_lookup"), "--pin-root", pin_root,
                        *[str(c) for c in cookies]], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise harness.FarmError(f"register_lookup exited {r.returncode}: {r.stderr}")
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    return lines[0], {int(e["cookie"]): e for e in lines[1:]}
