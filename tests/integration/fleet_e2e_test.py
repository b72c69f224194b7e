"""The fleet deployment end to end on the real engine (issue 11): three simulated hosts (each its
own network namespace, loopback only), one `sockdoctor serve` per host on 127.0.0.2-4 watching
that host's namespace, real Prometheus evaluating the shipped alert rules and real Alertmanager
delivering to a webhook receiver in this test.

  leak   CLOSE_WAIT grows in `order-sync`: Prometheus has the per-holder series and the
         Alertmanager delivers SockdoctorCloseWaitLeak for that host.
  churn  heavy TIME_WAIT churn with ample port headroom: no alert at all, not even pending.
  ports  a 200-port range toward one destination fills up: SockdoctorEphemeralPortsHigh is
         delivered before connect() fails.

The shipped rules run with their durations scaled down 30-fold (1m -> 2s) so that the test takes
about two minutes; every other part of each expression is as shipped. Every panel query of the
Grafana dashboard is then run against the same Prometheus and must return data.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleetkit as fk  # noqa: E402
from harness import main_wrapper  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RULES = os.path.join(ROOT, "deploy", "prometheus", "sockdoctor-rules.yml")
DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "sockdoctor-dashboard.json")
SCALE = 30  # one minute of the shipped rules is two seconds here
HOSTS = {"leak": "127.0.0.2", "churn": "127.0.0.3", "ports": "127.0.0.4"}


def scaled_rules(text: str) -> str:
    """The shipped rules with every duration divided by SCALE (windows, `for`, and the
    predict_linear horizon), so that the real engine can be watched within minutes."""
    def seconds(m: re.Match) -> str:
        n, unit = int(m.group(1)), m.group(2)
        return f"{max(1, n * {'s': 1, 'm': 60, 'h': 3600}[unit] // SCALE)}s"
    text = re.sub(r"(?<=\[)(\d+)([smh])(?=\])", seconds, text)
    text = re.sub(r"(?<=for: )(\d+)([smh])\b", seconds, text)
    return re.sub(r"(predict_linear\([^,]+,\s*)(\d+)\)",
                  lambda m: f"{m.group(1)}{int(m.group(2)) // SCALE})", text)


def read_events(path: str) -> list[dict]:
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def start_hosts(work: str, procs: list) -> dict:
    hosts = {}
    for role in HOSTS:
        events = os.path.join(work, f"{role}.events")
        log = open(os.path.join(work, f"{role}.log"), "wb")
        p = subprocess.Popen(["unshare", "-n", sys.executable, os.path.join(HERE, "fleet_host.py"),
                              role, events], stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        procs.append(p)
        hosts[role] = {"proc": p, "events": events}
    for role, h in hosts.items():
        fk.wait_until(f"host {role} ready",
                      lambda h=h: any(e["what"] == "ready" for e in read_events(h["events"])), 30)
    return hosts


def start_serves(sd: str, work: str, hosts: dict, servers: list) -> dict[str, str]:
    targets = {}
    for role, addr in HOSTS.items():
        port = fk.free_port(addr)
        argv = [sd, "--register", "off", "serve", "--listen", f"{addr}:{port}",
                "--netns", f"/proc/{hosts[role]['proc'].pid}/ns/net", "--min-interval", "0.5",
                "--db", os.path.join(work, f"{role}.db"), "--interval", "2"]
        s = fk.Server(f"serve-{role}", argv, work)
        servers.append(s)
        targets[role] = f"{addr}:{port}"
        fk.wait_until(f"serve for {role}",
                      lambda t=targets[role]: b"sockdoctor_sockets" in fk.http_get(f"http://{t}/metrics"), 30)
    return targets


def panel_queries() -> list[tuple[str, str]]:
    with open(DASHBOARD) as f:
        dash = json.load(f)
    out = []
    for p in dash["panels"]:
        for t in p.get("targets", []):
            out.append((p["title"], t["expr"].replace("$instance", ".*").replace("$job", ".*")))
    return out


def body(args, checks) -> None:
    missing = fk.have_engine()
    if missing:
        checks.check(False, "Prometheus and Alertmanager are installed", missing)
        return
    procs, servers = [], []
    webhook = fk.Webhook()
    with fk.Workdir() as work:
        try:
            run_fleet(args, checks, work, procs, servers, webhook)
        finally:
            for s in reversed(servers):
                s.stop()
            for p in procs:  # the simulated hosts, by PID
                if p.poll() is None:
                    p.kill()
                p.wait(timeout=10)
            webhook.stop()
    checks.check(all(p.poll() is not None for p in procs) and not any(s.alive() for s in servers),
                 "every process the test started has ended")


def run_fleet(args, checks, work, procs, servers, webhook) -> None:
    hosts = start_hosts(work, procs)
    targets = start_serves(args.sockdoctor, work, hosts, servers)
    rules = os.path.join(work, "rules.yml")
    with open(RULES) as f, open(rules, "w") as out:
        out.write(scaled_rules(f.read()))
    am = fk.Alertmanager(work, webhook.url)
    servers.append(am)
    prom = fk.Prometheus(work, {"sockdoctor": list(targets.values())}, [rules], am.address)
    servers.append(prom)
    t0 = time.time()
    fk.wait_until("every target up", prom.targets_up, 30)
    open(hosts["ports"]["events"] + ".go", "w").close()  # the ports host's storm may start

    leak = fk.wait_until("SockdoctorCloseWaitLeak delivered for the leaking host",
                         lambda: webhook.first("SockdoctorCloseWaitLeak", instance=targets["leak"]), 150)
    checks.check(leak[1]["labels"].get("comm") == "order-sync",
                 f"the leak alert names the holder order-sync ({leak[0] - t0:.0f} s after start)",
                 json.dumps(leak[1]["labels"]))
    if args.verbose:  # the README's example of a delivered alert
        print(json.dumps(leak[1], indent=1))
    series = prom.query('sockdoctor_holder_sockets{state="close_wait",comm="order-sync"}')
    checks.check(len(series) == 1 and series[0]["metric"]["instance"] == targets["leak"]
                 and float(series[0]["value"][1]) >= 10,
                 "Prometheus has order-sync's CLOSE_WAIT series on the leaking host (>= 10)",
                 json.dumps(series))
    forbidden = {"pid", "port", "peer", "local", "remote"} & set(series[0]["metric"] if series else {})
    checks.check(not forbidden, "holder series carry no pid, port or peer label", str(forbidden))

    ports = fk.wait_until("SockdoctorEphemeralPortsHigh delivered for the ports host",
                          lambda: webhook.first("SockdoctorEphemeralPortsHigh", instance=targets["ports"]), 120)
    failed = fk.wait_until("the ports host's connect() to fail",
                           lambda: [e for e in read_events(hosts["ports"]["events"])
                                    if e["what"] == "connect_failed"], 120)[0]
    checks.check(ports[0] < failed["t"],
                 f"the port alert arrived {failed['t'] - ports[0]:.1f} s before connect() failed "
                 f"(after {failed['made']} connections)", f"alert at {ports[0]}, failure at {failed['t']}")
    checks.equal(ports[1]["labels"].get("destination"), "127.0.0.1:8080", "the port alert names the destination")

    # Churn has run for a minute or more by now: TIME_WAIT is at its steady level.
    tw = prom.query(f'sockdoctor_sockets{{instance="{targets["churn"]}",state="time_wait"}}')
    tw_count = sum(float(s["value"][1]) for s in tw)
    checks.check(tw_count >= 1000, f"the churn host holds heavy TIME_WAIT ({tw_count:.0f} entries)")
    churn_alerts = [a for a in prom.alerts() if a["labels"].get("instance") == targets["churn"]]
    checks.check(not churn_alerts and not webhook.alerts_for(instance=targets["churn"]),
                 "the churn-only host fired nothing (not even pending)", json.dumps(churn_alerts))

    # net.ipv4.tcp_max_orphans is a global sysctl, visible only in the initial network namespace:
    # a test namespace has no limit to divide by. Only then may that one query be empty.
    no_limit = not os.path.exists("/proc/sys/net/ipv4/tcp_max_orphans")
    # The leaking host's own history (serve --db) and its status page name the holder too.
    hist = subprocess.run([args.sockdoctor, "history", "--db", os.path.join(work, "leak.db"),
                           "--json", "--holder", "order-sync"], capture_output=True, text=True)
    checks.check(hist.returncode == 0 and '"order-sync"' in hist.stdout,
                 "sockdoctor history names order-sync from what the leak host's serve recorded",
                 hist.stdout[-800:] + hist.stderr[-400:])
    page = fk.http_get(f"http://{targets['leak']}/").decode(errors="replace")
    checks.check("order-sync" in page, "the leak host's status page lists order-sync", page[:600])
    empty = [(title, q) for title, q in panel_queries()
             if not prom.query(q) and not (no_limit and "tcp_max_orphans" in q)]
    checks.check(not empty, f"every dashboard panel query returns data ({len(panel_queries())} queries)",
                 "\n     ".join(f"{t}: {q}" for t, q in empty))
    for s in servers:
        checks.check(s.alive(), f"{s.name} still running at the end", s.log_tail(600))


if __name__ == "__main__":
    main_wrapper("fleet_e2e", body)
