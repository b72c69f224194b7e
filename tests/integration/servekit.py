"""Helpers for the `sockdoctor serve` integration tests: start the exporter on 127.0.0.1 in the
test's private namespace, scrape it with a bounded timeout, parse the text format, and stop it
by PID."""

from __future__ import annotations

import os
import re
import subprocess
import time
import urllib.error
import urllib.request

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Exporter:
    """`sockdoctor serve --listen 127.0.0.1:0 ARGS` watching the test's own namespace. It hosts
    the eBPF state register only when given a pin root (`register`) on a private bpffs: never on
    the host's /sys/fs/bpf."""

    def __init__(self, sd: str, *args: str, netns: bool = True, timeout: float = 20,
                 register: str = "off", prefix: list[str] | None = None):
        # Never the host's /var/lib/sockdoctor: a test that wants history passes its own --db.
        db = [] if "--db" in args else ["--db", "off"]
        argv = [*(prefix or []), sd, "--register", register, "serve", "--listen", "127.0.0.1:0",
                *db, *args]
        if netns:
            argv += ["--netns", f"/proc/{os.getpid()}/ns/net"]
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.port = 0
        self.stderr_lines = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline().decode(errors="replace")
            if not line:
                break
            self.stderr_lines.append(line.rstrip("\n"))
            m = re.search(r"listening on https?://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                return
        self.stop()
        raise RuntimeError(f"`{' '.join(argv)}` did not start: {self.stderr_lines}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def url(self, path: str = "/metrics", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def get(url: str, method: str = "GET", headers: dict | None = None, timeout: float = 30,
        context=None):
    """(status, headers, body) of one request; HTTP errors are results, not exceptions."""
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def parse(text: str) -> list[tuple[str, dict, float]]:
    """Samples of the text format: (name, labels, value)."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise ValueError(f"not a sample line: {line!r}")
        labels = {k: v for k, v in LABEL.findall(m.group(3) or "")}
        out.append((m.group(1), labels, float(m.group(4))))
    return out


def value(samples, name: str, **labels) -> float | None:
    for n, l, v in samples:
        if n == name and all(l.get(k) == want for k, want in labels.items()):
            return v
    return None


def promtool_check(text: bytes) -> tuple[int, str]:
    r = subprocess.run(["promtool", "check", "metrics"], input=text, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    return r.returncode, r.stdout.decode(errors="replace")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def openmetrics_check(text: bytes) -> tuple[int, str]:
    """The Python client's OpenMetrics parser (Debian python3-prometheus-client, run with the
    system Python that has it); (0, "skipped") when it is not installed."""
    code = ("import sys\n"
            "try:\n from prometheus_client.openmetrics.parser import text_string_to_metric_families\n"
            "except ImportError:\n print('skipped'); sys.exit(0)\n"
            "list(text_string_to_metric_families(sys.stdin.read()))")
    r = subprocess.run(["/usr/bin/python3", "-c", code], input=text, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    return r.returncode, r.stdout.decode(errors="replace")


def sanitized(sd: str) -> bool:
    """Built with AddressSanitizer: its quarantine keeps freed memory, so RSS says nothing."""
    with open(sd, "rb") as f:
        data = f.read()
    return b"libasan.so" in data or b"__asan_init" in data
