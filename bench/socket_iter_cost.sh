#!/usr/bin/env bash
# What listing sockets costs in the kernel, netlink sock_diag against the eBPF iter/tcp program
# (src/collect/bpf/tcp_sockets.bpf.c), side by side on one farm: the bare sock_diag dump with
# tcp_info (bench/floor_dump), the iterator writing every socket, only the stuck states, and
# nothing (the walk alone), read with `cat` from a pinned iterator so that no user-space decoding
# is counted; then sockdoctor's `ls --no-owners` and `check` through either source.
#
# Usage (root):  flock /work/bench.lock bench/socket_iter_cost.sh
# Knobs (environment):
#   SOCKETS=100000  farm size (60% ESTAB, 30% CLOSE-WAIT, 10% FIN-WAIT-2)   PROCS=100   REPS=5
#   BUILD_DIR=build/release  a configured build with sockdoctor, sockfarm, floor_dump
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BUILD_DIR:-$ROOT/build/release}
N=${SOCKETS:-100000}
PROCS=${PROCS:-100}
REPS=${REPS:-5}
SD=$BIN/src/sockdoctor
OBJ=$BIN/bpf/tcp_sockets.bpf.o
for f in "$SD" "$BIN/bench/sockfarm" "$BIN/bench/floor_dump" "$OBJ"; do
  [[ -e $f ]] || { echo "socket_iter_cost: $f missing: cmake --preset release && cmake --build --preset release" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "socket_iter_cost: needs root" >&2; exit 1; }

NS=sd-iterbench-$$
PIN=/sys/fs/bpf/sd-iterbench-$$
WORK=$(mktemp -d)
FARM=""
cleanup() {
  [[ -n $FARM ]] && { kill "$FARM" 2>/dev/null || true; wait "$FARM" 2>/dev/null || true; }
  rm -f "$PIN"
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$NS"
ip netns exec "$NS" "$BIN/bench/sockfarm" --established $((N * 6 / 10)) --close-wait $((N * 3 / 10)) \
  --fin-wait2 $((N / 10)) --procs "$PROCS" --hold 900 --build-timeout 600 \
  --ready-file "$WORK/ready" 2>"$WORK/farm.log" &
FARM=$!
for ((i = 0; i < 600; i++)); do [[ -f $WORK/ready ]] && break; sleep 1; done
[[ -f $WORK/ready ]] || { cat "$WORK/farm.log" >&2; exit 1; }

# The pinned iterator lists the namespace of whoever opens it; nsenter keeps the host's bpffs.
nsenter --net="/run/netns/$NS" bpftool iter pin "$OBJ" "$PIN"
bss=$(python3 - "$PIN" <<'EOF'
import json, subprocess, sys
link = json.loads(subprocess.check_output(["bpftool", "-j", "link", "show", "pinned", sys.argv[1]]))
prog = json.loads(subprocess.check_output(["bpftool", "-j", "prog", "show", "id", str(link["prog_id"])]))
for m in prog.get("map_ids", []):
    info = json.loads(subprocess.check_output(["bpftool", "-j", "map", "show", "id", str(m)]))
    if info.get("name", "").endswith(".bss"):
        print(m)
EOF
)
# .bss: records_seen (u64), state_mask (u32), families (u32), little-endian.
set_mask() {
  local m=$1
  bpftool map update id "$bss" key 0 0 0 0 value 0 0 0 0 0 0 0 0 \
    $((m & 255)) $(((m >> 8) & 255)) $(((m >> 16) & 255)) $(((m >> 24) & 255)) 3 0 0 0
}
ALL=$((0xfff & ~(1 << 7)))                                            # every state but CLOSE
STUCK=$(((1 << 3) | (1 << 4) | (1 << 5) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11)))

RAW=$WORK/raw
run() { # name mask-or-- command...
  local name=$1 mask=$2
  shift 2
  [[ $mask != - ]] && set_mask "$mask"
  /usr/bin/time -o "$WORK/t" -f '%e %U %S' "$@" >/dev/null 2>"$WORK/err" || true
  read -r wall usr sys < <(tail -n 1 "$WORK/t") # after "Command exited with non-zero status"
  echo "$name $wall $(awk -v a="$usr" -v b="$sys" 'BEGIN { print a + b }')" >>"$RAW"
}
echo "farm: $N sockets over $PROCS processes; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
IN="nsenter --net=/run/netns/$NS"
for ((r = 1; r <= REPS; r++)); do
  run floor_dump - $IN "$BIN/bench/floor_dump" -q
  run iter_every "$ALL" $IN cat "$PIN"
  run iter_stuck "$STUCK" $IN cat "$PIN"
  run iter_walk 0 $IN cat "$PIN"
  run ls_netlink - $IN "$SD" --source netlink ls --no-owners
  run ls_bpf - $IN "$SD" --source bpf ls --no-owners
  run check_netlink - $IN "$SD" --source netlink check
  run check_bpf - $IN "$SD" --source bpf check
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$RAW" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, wall, cpu = line.split()
    rows.setdefault(name, []).append((float(wall), float(cpu)))
floor = statistics.median(w for w, _ in rows["floor_dump"])
print(f"{'what':14} {'wall':>8} {'cpu':>7} {'wall/floor':>10}   (medians of {len(rows['floor_dump'])})")
for name, v in rows.items():
    w = statistics.median(x for x, _ in v)
    c = statistics.median(y for _, y in v)
    print(f"{name:14} {w:8.3f} {c:7.3f} {w / floor:9.2f}x")
for a, b in (("ls_bpf", "ls_netlink"), ("check_bpf", "check_netlink")):
    ratios = [x[0] / y[0] for x, y in zip(rows[a], rows[b])]
    print(f"{a}/{b} per round: " + " ".join(f"{r:.2f}" for r in ratios)
          + f"  median {statistics.median(ratios):.2f}")
EOF
