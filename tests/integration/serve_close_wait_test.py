#!/usr/bin/env python3
"""`sockdoctor serve` on a real CLOSE_WAIT leak: /metrics names the holder by process name (never
its pid or ports), counts its sockets and gives a plausible oldest age; a real scrape passes
`promtool check metrics`; OpenMetrics on request; GET/HEAD only (405), a landing page, 404
elsewhere; concurrent scrapes share samples and --min-interval reuses one."""

import os
import shutil
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "check"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import servekit  # noqa: E402
from holders import Holder  # noqa: E402

N = 5
WAIT = 3.0

LEAKER = r'''
port = ARGS["port"]
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(ARGS["n"])]
ready(ports=[s.getsockname()[1] for s in socks])
hold()  # never read, never close: CLOSE_WAIT once the server closes
'''


def scrape(exp, **kw):
    status, headers, body = servekit.get(exp.url(), **kw)
    return status, headers, body, servekit.parse(body.decode()) if status == 200 else []


def check_http(exp, checks):
    status, headers, body = servekit.get(exp.url("/"))
    checks.equal(status, 200, "GET / answers 200")
    checks.check(b'href="/metrics"' in body and b"0.1.0" in body, "the landing page links "
                 "/metrics and shows the version", body[:500].decode(errors="replace"))
    checks.check(b"network namespace" in body, "and says what it watches")
    status, headers, body = servekit.get(exp.url(), method="POST")
    checks.equal(status, 405, "POST /metrics answers 405")
    checks.equal(headers.get("Allow"), "GET, HEAD", "with Allow: GET, HEAD")
    for method in ("PUT", "DELETE", "OPTIONS", "PATCH"):
        checks.equal(servekit.get(exp.url(), method=method)[0], 405, f"{method} answers 405")
    status, headers, body = servekit.get(exp.url(), method="HEAD")
    checks.equal((status, body), (200, b""), "HEAD /metrics answers 200 without a body")
    checks.equal(servekit.get(exp.url("/nope"))[0], 404, "GET /nope answers 404")


def body(args, checks):
    if shutil.which("promtool") is None:
        harness.skip("promtool (Debian package prometheus) is not installed")
    sd = args.sockdoctor
    with servekit.Exporter(sd, "--min-interval", "0") as exp:
        checks.check(not any("cannot see" in l for l in exp.stderr_lines),
                     "as root it reports no missing privilege", "\n".join(exp.stderr_lines))
        check_http(exp, checks)
        status, headers, raw, samples = scrape(exp)
        checks.equal(status, 200, "GET /metrics answers 200")
        checks.check(headers.get("Content-Type", "").startswith("text/plain; version=0.0.4"),
                     "text format 0.0.4", str(headers))
        checks.equal(servekit.value(samples, "sockdoctor_build_info", version="0.1.0"), 1.0,
                     "sockdoctor_build_info{version=\"0.1.0\"} 1")
        checks.equal(servekit.value(samples, "sockdoctor_collector_success", collector="sockets"),
                     1.0, "the sockets collector succeeded")

        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        port = srv.getsockname()[1]
        with Holder("sd-cwleaker", LEAKER, {"port": port, "n": N}) as leaker:
            conns = [srv.accept()[0] for _ in range(N)]
            for c in conns:
                c.close()
            srv.close()
            closed_at = time.monotonic()
            time.sleep(WAIT)
            status, headers, raw, samples = scrape(exp)
            elapsed = time.monotonic() - closed_at
            text = raw.decode()
            who = dict(owner="process", comm="sd-cwleaker")
            checks.equal(servekit.value(samples, "sockdoctor_holder_sockets", state="close_wait",
                                        **who), float(N), f"the holder has {N} CLOSE_WAIT sockets")
            age = servekit.value(samples, "sockdoctor_holder_oldest_socket_age_seconds", **who)
            checks.check(age is not None and WAIT - 0.5 <= age <= elapsed + 0.5,
                         f"its oldest age is plausible ({WAIT} .. {elapsed:.1f} s)", f"got {age}")
            checks.check(any(n == "sockdoctor_sockets" and l.get("state") == "close_wait"
                             and v == N for n, l, v in samples),
                         f"sockdoctor_sockets{{state=\"close_wait\"}} {N} in the namespace")
            holder_lines = [l for l in text.splitlines() if l.startswith("sockdoctor_holder")]
            checks.check(holder_lines and not any(str(leaker.pid) in l or str(port) in l
                                                  for l in holder_lines),
                         "holder series carry neither the pid nor a port", "\n".join(holder_lines))
            checks.check(f'"127.0.0.1:{port}"' not in text.replace(
                f'destination="127.0.0.1:{port}"', ""),
                "the peer appears only as a port budget destination")
            rc, lint = servekit.promtool_check(raw)
            checks.check(rc == 0, "promtool check metrics: clean", lint)

            status, headers, raw, _ = scrape(exp, headers={
                "Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"})
            checks.check(headers.get("Content-Type", "").startswith(
                "application/openmetrics-text; version=1.0.0"), "OpenMetrics when asked for",
                str(headers))
            checks.check(raw.endswith(b"# EOF\n"), "it ends with # EOF")
            rc, out = servekit.openmetrics_check(raw)
            checks.check(rc == 0, "the OpenMetrics parser accepts it", out)

        # Concurrent scrapes share samples (the dump of this namespace takes milliseconds, so
        # some requests still start new ones; never one per request).
        with ThreadPoolExecutor(max_workers=30) as pool:
            results = list(pool.map(lambda _: scrape(exp)[3], range(30)))
        numbers = {servekit.value(s, "sockdoctor_exporter_samples_total") for s in results}
        checks.check(all(r for r in results), "30 concurrent scrapes all answered")
        checks.check(len(numbers) < 30, f"they shared samples ({len(numbers)} samples for 30)")

    with servekit.Exporter(sd, "--min-interval", "30") as exp:
        first = servekit.value(scrape(exp)[3], "sockdoctor_exporter_samples_total")
        again = [servekit.value(scrape(exp)[3], "sockdoctor_exporter_samples_total")
                 for _ in range(3)]
        checks.equal(again, [first] * 3, "--min-interval 30: later scrapes reuse the sample")
        rc = exp.stop()
        checks.equal(rc, 0, "SIGTERM stops the exporter with status 0")

    check_unprivileged(sd, checks)


def check_unprivileged(sd, checks):
    """As nobody without capabilities: it starts, says once what it cannot see, and exports it."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        print("note: setpriv (util-linux) is missing: the unprivileged start is not tested")
        return
    prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
              "--bounding-set=-all"]
    with servekit.Exporter(sd, netns=False, prefix=prefix) as exp:
        said = [l for l in exp.stderr_lines if "cannot see" in l]
        checks.check(any("CAP_SYS_PTRACE" in l for l in said) and any("CAP_SYS_ADMIN" in l
                                                                      for l in said),
                     "as nobody it says once what it cannot see", "\n".join(exp.stderr_lines))
        samples = scrape(exp)[3]
        for what in ("owners_of_other_users", "all_netns"):
            checks.equal(servekit.value(samples, "sockdoctor_capability_missing", what=what), 1.0,
                         f"sockdoctor_capability_missing{{what=\"{what}\"}} 1")
        checks.equal(servekit.value(samples, "sockdoctor_collector_success", collector="sockets"),
                     1.0, "and it still lists the sockets of its namespace")
        landing = servekit.get(exp.url("/"))[2].decode()
        checks.check("CAP_SYS_PTRACE" in landing, "the landing page says it too")


if __name__ == "__main__":
    harness.main_wrapper("serve_close_wait", body)
