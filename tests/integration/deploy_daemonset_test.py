"""The Kubernetes DaemonSet and the scrape configurations (deploy/): the read-only profile
(hostPID, only the capabilities serve needs, no NET_ADMIN, no privileged mode, read-only root
filesystem, /proc, /sys/fs/cgroup and /var/log/pods mounted read-only), and the container's own
arguments run for real: sockdoctor serve starts with them in this private namespace and answers
a scrape. The static scrape configuration passes `promtool check config`."""

import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleetkit as fk  # noqa: E402
from harness import main_wrapper  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DAEMONSET = os.path.join(ROOT, "deploy", "kubernetes", "sockdoctor-daemonset.yaml")
SCRAPE_STATIC = os.path.join(ROOT, "deploy", "prometheus", "scrape-static.yml")
SCRAPE_K8S = os.path.join(ROOT, "deploy", "prometheus", "scrape-kubernetes.yml")
CAPS = {"SYS_PTRACE", "DAC_READ_SEARCH", "SYS_ADMIN", "BPF", "PERFMON"}


def load_yaml(path: str) -> list:
    import yaml  # Debian python3-yaml (scripts/setup.sh)
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def check_profile(checks, spec: dict) -> dict:
    pod = spec["template"]["spec"]
    checks.equal(pod.get("hostPID"), True, "hostPID: the node's processes are visible")
    checks.equal(pod.get("hostNetwork", False), False, "the listener stays in the pod's namespace")
    checks.equal(pod.get("automountServiceAccountToken"), False, "no API server token")
    (c,) = pod["containers"]
    sc = c["securityContext"]
    checks.equal(sc.get("privileged", False), False, "not privileged")
    checks.equal(sc.get("allowPrivilegeEscalation"), False, "no privilege escalation")
    checks.equal(sc.get("readOnlyRootFilesystem"), True, "read-only root filesystem")
    checks.equal(sc["capabilities"].get("drop"), ["ALL"], "every capability dropped first")
    checks.equal(set(sc["capabilities"].get("add", [])), CAPS, "exactly the read-only capabilities")
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    for path in ("/host/proc", "/sys/fs/cgroup", "/var/log/pods"):
        checks.check(mounts.get(path, {}).get("readOnly") is True, f"{path} mounted read-only")
    writable = {p for p, m in mounts.items() if not m.get("readOnly")}
    checks.equal(writable, {"/sys/fs/bpf", "/var/lib/sockdoctor"},
                 "nothing but bpffs (the register's pins) and sockdoctor's state is writable")
    return c


def run_container_args(args, checks, c: dict) -> None:
    port = c["ports"][0]["containerPort"]
    with fk.Workdir() as work:
        # The container's paths, mapped onto this machine: the host's /proc, a private database.
        argv = [a.replace("--proc-root=/host/proc", "--proc-root=/proc")
                 .replace("--db=/var/lib/sockdoctor/", f"--db={work}/") for a in c["args"]]
        s = fk.Server("serve", [args.sockdoctor, "--register", "off", *argv], work)
        try:
            body = fk.wait_until("serve with the DaemonSet's arguments",
                                 lambda: fk.http_get(f"http://127.0.0.1:{port}/metrics"), 30)
            checks.check(b"sockdoctor_build_info" in body,
                         f"serve runs with the container's arguments {argv} and answers on :{port}",
                         s.log_tail())
            page = fk.http_get(f"http://127.0.0.1:{port}/")
            checks.check(b"<svg" in page, "its status page draws the history it records", s.log_tail())
        finally:
            s.stop()


def body(args, checks) -> None:
    docs = load_yaml(DAEMONSET)
    ds = [d for d in docs if d.get("kind") == "DaemonSet"]
    if not checks.check(len(ds) == 1, "one DaemonSet in the manifest"):
        return
    c = check_profile(checks, ds[0]["spec"])
    run_container_args(args, checks, c)
    promtool = shutil.which("promtool")
    r = subprocess.run([promtool or "promtool", "check", "config", SCRAPE_STATIC],
                       capture_output=True, text=True) if promtool else None
    checks.check(r is not None and r.returncode == 0, "promtool check config scrape-static.yml",
                 (r.stdout + r.stderr) if r else "promtool not installed")
    (k8s,) = load_yaml(SCRAPE_K8S)
    relabels = k8s["scrape_configs"][0]["relabel_configs"]
    checks.check(not any(r.get("target_label") == "namespace" for r in relabels),
                 "the Kubernetes scrape adds no `namespace` target label")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    checks.check(any(r.get("regex") == "metrics" for r in relabels) and "metrics" in ports,
                 "the Kubernetes scrape keeps the container port named metrics")


if __name__ == "__main__":
    main_wrapper("deploy_daemonset", body)
