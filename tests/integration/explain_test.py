#!/usr/bin/env python3
"""`sockdoctor explain` reads the sysctls of the network namespace it runs in.

Re-executes itself under `unshare -n`, sets ip_local_port_range=40000-40999 and tcp_tw_reuse=0
in that private namespace only, and checks the port budget (1000 ports, ~16.7 connections/s),
the usage/exit statuses, the overview's seed myths, and that HZ and CONFIG_INET_DIAG_DESTROY
figures match /proc/config.gz as read here. Creates no sockets. Exit 0 pass, 77 skip, anything
else fail.
"""
import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys

TIMEOUT = 60


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, **kw)


def fail(msg):
    print("FAIL: " + msg)
    return 1


def figure(topic, fid):
    for f in topic["figures"]:
        if f.get("id") == fid:
            return f
    return None


def setting(topic, name):
    for s in topic["settings"]:
        if s["name"] == name:
            return s
    return None


def kernel_config():
    """CONFIG_HZ and CONFIG_INET_DIAG_DESTROY read here, independently of sockdoctor."""
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            text = f.read()
    except OSError:
        return None, None
    hz, destroy = None, False
    for line in text.splitlines():
        if line.startswith("CONFIG_HZ="):
            hz = int(line.split("=", 1)[1])
        if line == "CONFIG_INET_DIAG_DESTROY=y":
            destroy = True
    return hz, destroy


def wheel_slack(seconds, hz):
    # kernel/time/timer.c: level n starts at 63 << 3(n-1) jiffies, granularity 8^n jiffies.
    jiffies, gran = seconds * hz, 1
    for level in range(1, 9 if hz > 100 else 8):
        if jiffies < 63 * 8 ** (level - 1):
            break
        gran = 8 ** level
    return gran / hz


def check_running_kernel(sd):
    """Figures that depend on how this kernel was built come from /proc/config.gz."""
    hz, destroy = kernel_config()
    r = run([sd, "explain", "keepalive", "--json"])
    if r.returncode != 0:
        return fail("explain keepalive --json exited %d" % r.returncode)
    latest = figure(json.loads(r.stdout)["topics"][0], "keepalive_first_probe_latest")
    if hz is None:
        if latest is None or latest["value"] is not None:
            return fail("HZ unknown but the latest first probe is %r" % latest)
    else:
        want = 7200 + wheel_slack(7200, hz)
        if latest is None or latest["value"] is None or abs(latest["value"] - want) > 0.1:
            return fail("latest first probe at HZ=%d: %r (want %.1f)" % (hz, latest, want))
    r = run([sd, "explain", "time-wait"])
    said = ("HZ=%d (this kernel's CONFIG_HZ)" % hz) if hz else "HZ is unknown"
    if r.returncode != 0 or said not in " ".join(r.stdout.split()):
        return fail("time-wait text does not say %r:\n%s" % (said, r.stdout))
    r = run([sd, "explain", "orphans"])
    flat = " ".join(r.stdout.split())
    said = ("could not be checked" if destroy is None else
            "works on this kernel" if destroy else "does not work on this kernel")
    if r.returncode != 0 or said not in flat:
        return fail("orphans text does not say ss -K %r" % said)
    print("ok: HZ=%s and CONFIG_INET_DIAG_DESTROY=%s as /proc/config.gz says" % (hz, destroy))
    return 0


def check_overview(sd):
    """The overview names each seed myth with its correction, not only a count."""
    r = run([sd, "explain"])
    if r.returncode != 0 or "TIME_WAIT" not in r.stdout:
        return fail("explain (overview) exited %d" % r.returncode)
    flat = " ".join(r.stdout.split())
    myths, truths = flat.count("Myth: "), flat.count("Truth: ")
    if myths != 12 or truths != 12:
        return fail("overview lists %d myths and %d truths, want 12 each" % (myths, truths))
    for needle in ("7875 s", "2 x MSL", "tcp_tw_recycle was removed in Linux 4.12",
                   "Keepalive probes only SO_KEEPALIVE sockets"):
        if needle not in flat:
            return fail("overview lacks %r" % needle)
    return 0


def write_sysctl(rel, value):
    with open("/proc/sys/" + rel, "w") as f:
        f.write(value)


def in_namespace(sd, parent_ns):
    # Never touch sysctls unless we really are in a namespace of our own.
    if os.readlink("/proc/self/ns/net") == parent_ns:
        return fail("still in the parent network namespace; refusing to change sysctls")
    write_sysctl("net/ipv4/ip_local_port_range", "40000 40999")
    write_sysctl("net/ipv4/tcp_tw_reuse", "0")

    r = run([sd, "explain", "ports", "--json"])
    if r.returncode != 0:
        return fail("explain ports --json exited %d: %s" % (r.returncode, r.stderr))
    doc = json.loads(r.stdout)
    if doc.get("schema_version") != 1 or len(doc.get("topics", [])) != 1:
        return fail("unexpected document shape: %s" % r.stdout[:300])
    ports = doc["topics"][0]
    if ports["id"] != "ports":
        return fail("topic id %r" % ports["id"])
    usable = figure(ports, "usable_ephemeral_ports")
    if usable is None or usable["value"] != 1000:
        return fail("usable ephemeral ports: %r (want 1000)" % usable)
    rate = figure(ports, "max_rate_without_reuse")
    if rate is None or abs(rate["value"] - 16.7) > 0.05:
        return fail("max rate without reuse: %r (want ~16.7/s)" % rate)
    loop = figure(ports, "max_rate_loopback")
    if loop is None or abs(loop["value"] - 16.7) > 0.05:
        return fail("tcp_tw_reuse=0 must not speed up loopback: %r" % loop)
    rng = setting(ports, "net.ipv4.ip_local_port_range")
    reuse = setting(ports, "net.ipv4.tcp_tw_reuse")
    if rng is None or rng["value"] != "40000 40999":
        return fail("ip_local_port_range setting: %r" % rng)
    if reuse is None or reuse["value"] != 0:
        return fail("tcp_tw_reuse setting: %r" % reuse)

    r = run([sd, "explain", "ports"])
    if r.returncode != 0 or "1000 ports" not in r.stdout or "16.7/s" not in r.stdout:
        return fail("text output lacks the budget (rc %d):\n%s" % (r.returncode, r.stdout))
    if any(len(line) > 80 for line in r.stdout.splitlines()):
        return fail("text output wider than 80 columns")

    r = run([sd, "explain", "bogus"])
    if r.returncode != 64:
        return fail("explain bogus exited %d, want 64" % r.returncode)
    if "close-wait" not in r.stderr or "listen-queue" not in r.stderr:
        return fail("usage error does not list the topics: %r" % r.stderr)

    if check_overview(sd) != 0 or check_running_kernel(sd) != 0:
        return 1

    r = run([sd, "--proc-root", "/nonexistent-sockdoctor-root", "explain", "time-wait"])
    if r.returncode != 3:
        return fail("unreadable settings exited %d, want 3" % r.returncode)
    print("ok: explain follows this namespace's sysctls (1000 ports, 16.7/s)")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sockdoctor", required=True)
    ap.add_argument("--parent-ns", help=argparse.SUPPRESS)
    args = ap.parse_args()
    sd = os.path.abspath(args.sockdoctor)
    if args.parent_ns:
        return in_namespace(sd, args.parent_ns)
    if os.geteuid() != 0:
        print("skip: needs root to create a private network namespace")
        return 77
    unshare = shutil.which("unshare")
    if unshare is None:
        print("skip: unshare(1) not found")
        return 77
    parent = os.readlink("/proc/self/ns/net")
    cmd = [unshare, "-n", sys.executable, os.path.abspath(__file__), "--sockdoctor", sd,
           "--parent-ns", parent]
    try:
        r = subprocess.run(cmd, timeout=TIMEOUT * 4)
    except subprocess.TimeoutExpired:
        return fail("timed out")
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
