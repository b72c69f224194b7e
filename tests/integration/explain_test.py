#!/usr/bin/env python3
"""`sockdoctor explain` reads the sysctls of the network namespace it runs in.

Re-executes itself under `unshare -n`, sets ip_local_port_range=40000-40999 and tcp_tw_reuse=0
in that private namespace only, and checks the port budget (1000 ports, ~16.7 connections/s)
and the usage/exit statuses. Creates no sockets. Exit 0 pass, 77 skip, anything else fail.
"""
import argparse
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

    r = run([sd, "explain"])
    if r.returncode != 0 or "TIME_WAIT" not in r.stdout:
        return fail("explain (overview) exited %d" % r.returncode)

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
