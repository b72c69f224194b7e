#!/usr/bin/env python3
"""Checks that sockdoctor and ss agree: per-state counts and, per socket, the (pid, fd) owners.

Usage: compare_owners.py SOCKDOCTOR_LS.json SS_TANP.txt
  SOCKDOCTOR_LS.json  output of `sockdoctor ls --json`
  SS_TANP.txt         output of `ss -tanpH` taken on the same (static) farm
Exit 0 when both agree, 1 with the differences printed otherwise, 2 on unreadable input.
"""
import ipaddress
import json
import re
import sys
from collections import Counter

# ss state names -> sockdoctor's snake_case names (core/tcp_state.cpp).
SS_STATES = {
    "ESTAB": "established", "SYN-SENT": "syn_sent", "SYN-RECV": "syn_recv",
    "FIN-WAIT-1": "fin_wait1", "FIN-WAIT-2": "fin_wait2", "TIME-WAIT": "time_wait",
    "UNCONN": "close", "CLOSE-WAIT": "close_wait", "LAST-ACK": "last_ack",
    "LISTEN": "listen", "CLOSING": "closing",
}
OWNER_RE = re.compile(r"pid=(\d+),fd=(\d+)")
MAX_SHOWN = 10


def endpoint(text):
    """'127.0.0.1:80', '[::1]:80', '*:80', '0.0.0.0:*' -> (address, port) normalised."""
    addr, _, port = text.rpartition(":")
    addr = addr.strip("[]")
    if "%" in addr:  # link-local scope ("fe80::1%lo"): sockdoctor prints no scope
        addr = addr.split("%", 1)[0]
    if addr == "*":
        addr = "0.0.0.0"
    return str(ipaddress.ip_address(addr)), 0 if port == "*" else int(port)


def read_ss(path):
    sockets = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            cols = line.split()
            if len(cols) < 5:
                continue
            state = SS_STATES.get(cols[0])
            if state is None:
                raise ValueError(f"{path}: unknown ss state {cols[0]!r}")
            key = (endpoint(cols[3]), endpoint(cols[4]), state)
            owners = frozenset((int(p), int(fd)) for p, fd in OWNER_RE.findall(line))
            sockets[key] = owners
    return sockets


def read_sockdoctor(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    sockets = {}
    for s in doc["sockets"]:
        local = (str(ipaddress.ip_address(s["local"]["addr"])), s["local"]["port"])
        peer = (str(ipaddress.ip_address(s["peer"]["addr"])), s["peer"]["port"])
        owners = frozenset((o["pid"], o["fd"]) for o in s.get("owners", []))
        sockets[(local, peer, s["state"])] = owners
    summary = doc.get("summary", {}).get("states", {})
    return sockets, summary


def show(title, items):
    items = sorted(items)
    print(f"  {title}: {len(items)}")
    for item in items[:MAX_SHOWN]:
        print(f"    {item}")


def compare(sd, sd_summary, ss):
    ok = True
    sd_counts = Counter(state for _, _, state in sd)
    ss_counts = Counter(state for _, _, state in ss)
    if sd_counts != ss_counts:
        ok = False
        print("per-state counts differ (state: sockdoctor / ss):")
        for st in sorted(set(sd_counts) | set(ss_counts)):
            print(f"  {st}: {sd_counts[st]} / {ss_counts[st]}")
    if sd_summary and dict(sd_counts) != {k: v for k, v in sd_summary.items() if v}:
        ok = False
        print(f"sockdoctor summary.states {sd_summary} != its socket list {dict(sd_counts)}")
    only_sd = sd.keys() - ss.keys()
    only_ss = ss.keys() - sd.keys()
    if only_sd or only_ss:
        ok = False
        print("sockets seen by one tool only:")
        show("only sockdoctor", only_sd)
        show("only ss", only_ss)
    wrong = [(k, sorted(sd[k]), sorted(ss[k])) for k in sd.keys() & ss.keys() if sd[k] != ss[k]]
    if wrong:
        ok = False
        print("owners differ (socket, sockdoctor (pid, fd), ss (pid, fd)):")
        show("sockets", wrong)
    owned = sum(1 for v in ss.values() if v)
    print(f"compared {len(ss)} sockets ({owned} with owners): "
          + ", ".join(f"{k} {v}" for k, v in sorted(ss_counts.items())))
    return ok


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        sd, sd_summary = read_sockdoctor(argv[1])
        ss = read_ss(argv[2])
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        print(f"compare_owners: {e}", file=sys.stderr)
        return 2
    ok = compare(sd, sd_summary, ss)
    print("owners and counts: " + ("EQUAL" if ok else "DIFFERENT"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
