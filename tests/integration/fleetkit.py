"""Real Prometheus and Alertmanager (Debian's packages) for the fleet tests: each started with a
private config and data directory on 127.0.0.1 inside the test's network namespace, waited for
until ready, queried over its HTTP API, and stopped by PID; plus a webhook receiver that records
what Alertmanager delivers. Nothing here contacts an address outside 127.0.0.0/8."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
PROMTOOL = "/usr/bin/promtool"


class KitError(Exception):
    pass


def free_port(addr: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 5.0) -> bytes:
    host = urllib.parse.urlparse(url).hostname or ""
    if not host.startswith("127.") and host not in ("localhost", "::1"):
        raise KitError(f"refusing to contact {host}: tests use loopback only")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
    with opener.open(url, timeout=timeout) as r:
        return r.read()


def wait_until(what: str, fn, timeout: float, every: float = 0.25):
    """Polls fn() until it returns a true value (returned) or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - a server that is not up yet raises anything
            last_error = e
        time.sleep(every)
    raise KitError(f"timed out after {timeout:.0f} s waiting for {what}"
                   + (f" (last error: {last_error})" if last_error else ""))


class Server:
    """A child process with its own directory; stop() ends it by PID and removes the directory."""

    def __init__(self, name: str, argv: list[str], workdir: str):
        self.name, self.workdir = name, workdir
        self.log_path = os.path.join(workdir, f"{name}.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=workdir)

    def log_tail(self, n: int = 2000) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


class Prometheus(Server):
    def __init__(self, workdir: str, scrape_targets: dict[str, list[str]], rule_files: list[str],
                 alertmanager: str | None, interval: str = "1s"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        jobs = []
        for job, targets in scrape_targets.items():
            jobs.append({"job_name": job, "scrape_interval": interval, "scrape_timeout": interval,
                         "static_configs": [{"targets": targets}]})
        config = {"global": {"scrape_interval": interval, "evaluation_interval": interval},
                  "rule_files": rule_files, "scrape_configs": jobs}
        if alertmanager:
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
        cfg = os.path.join(workdir, "prometheus.yml")
        with open(cfg, "w") as f:
            json.dump(config, f, indent=1)  # JSON is YAML
        argv = [PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={workdir}/tsdb",
                f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-lifecycle",
                "--storage.tsdb.retention.time=1h", "--log.level=warn",
                # Alerts fired before the Alertmanager is discovered are dropped; resend soon.
                "--rules.alert.resend-delay=1s"]
        super().__init__("prometheus", argv, workdir)
        wait_until("prometheus ready", lambda: self.alive() and http_get(self.url + "/-/ready"), 60)

    def query(self, expr: str) -> list[dict]:
        body = http_get(self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        doc = json.loads(body)
        if doc.get("status") != "success":
            raise KitError(f"query {expr!r}: {doc}")
        return doc["data"]["result"]

    def targets_up(self) -> bool:
        doc = json.loads(http_get(self.url + "/api/v1/targets"))
        active = doc["data"]["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)

    def alerts(self) -> list[dict]:
        return json.loads(http_get(self.url + "/api/v1/alerts"))["data"]["alerts"]


class Alertmanager(Server):
    def __init__(self, workdir: str, webhook_url: str):
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.address}"
        config = {"route": {"receiver": "test", "group_by": ["alertname", "instance"],
                            "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"},
                  "receivers": [{"name": "test", "webhook_configs": [{"url": webhook_url,
                                                                       "send_resolved": False}]}]}
        cfg = os.path.join(workdir, "alertmanager.yml")
        with open(cfg, "w") as f:
            json.dump(config, f, indent=1)
        argv = [ALERTMANAGER, f"--config.file={cfg}", f"--storage.path={workdir}/am-data",
                f"--web.listen-address={self.address}", "--cluster.listen-address=",
                "--log.level=warn"]
        super().__init__("alertmanager", argv, workdir)
        wait_until("alertmanager ready", lambda: self.alive() and http_get(self.url + "/-/ready"), 60)


class Webhook:
    """Records every JSON body POSTed to it (Alertmanager's webhook payloads)."""

    def __init__(self):
        received: list[dict] = []
        self.received = received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                n = min(int(self.headers.get("Content-Length", "0")), 1 << 20)
                try:
                    doc = json.loads(self.rfile.read(n))
                except ValueError:
                    doc = {"invalid": True}
                doc["_received_at"] = time.time()
                received.append(doc)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def alert_names(self) -> set[str]:
        return {a["labels"].get("alertname", "") for doc in self.received for a in doc.get("alerts", [])}

    def first(self, alertname: str, **labels: str) -> tuple[float, dict] | None:
        """(time received, alert) of the first delivered alert with these labels, or None."""
        for doc in list(self.received):
            for a in doc.get("alerts", []):
                al = a.get("labels", {})
                if al.get("alertname") == alertname and all(al.get(k) == v for k, v in labels.items()):
                    return doc["_received_at"], a
        return None

    def alerts_for(self, **labels: str) -> list[dict]:
        return [a for doc in list(self.received) for a in doc.get("alerts", [])
                if all(a.get("labels", {}).get(k) == v for k, v in labels.items())]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Workdir:
    """A private directory for configs and data, removed on exit."""

    def __enter__(self) -> str:
        self.path = tempfile.mkdtemp(prefix="sd-fleet-")
        return self.path

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def have_engine() -> str | None:
    """None when Prometheus, Alertmanager and promtool are installed, else what is missing."""
    missing = [p for p in (PROMETHEUS, ALERTMANAGER, PROMTOOL) if not os.access(p, os.X_OK)]
    return ", ".join(missing) + " not installed" if missing else None
