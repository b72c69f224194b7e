#!/usr/bin/env python3
"""Writes the fuzz seed corpora (tests/fuzz_corpus/<target>/) from the fixtures in tests/fixtures.

Seeds are small on purpose: libFuzzer mutates short inputs faster, and one valid record or line
is enough to lead it into every branch. Run it again after a fixture changes; the output is
deterministic (file names are content hashes)."""
import gzip
import hashlib
import pathlib
import struct
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures"
OUT = ROOT / "tests" / "fuzz_corpus"


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


def netlink_messages(blob):
    """Splits concatenated netlink messages (nlmsg_len is the first u32, 4-byte aligned)."""
    out, off = [], 0
    while off + 16 <= len(blob):
        length = struct.unpack_from("<I", blob, off)[0]
        if length < 16:
            break
        out.append(blob[off:off + length])
        off += (length + 3) & ~3
    return out


def sock_diag():
    NLMSG_DONE = 3
    for name in ("all_states.bin", "ss_all_states.bin"):
        blob = (FIX / "netlink" / name).read_bytes()
        msgs = netlink_messages(blob)
        done = [m for m in msgs if struct.unpack_from("<H", m, 4)[0] == NLMSG_DONE]
        data = [m for m in msgs if struct.unpack_from("<H", m, 4)[0] != NLMSG_DONE]
        write("sock_diag", done[0])
        for m in data[:6]:  # one socket per seed, each a complete dump
            write("sock_diag", m + done[0])
        write("sock_diag", blob[:4096] + done[0])
        if name == "ss_all_states.bin":
            write("sock_diag", blob)


def lines_of(path, n):
    return "".join(path.read_text().splitlines(keepends=True)[:n])


def proc_net_tcp():
    for p in (FIX / "proc_net/net/tcp", FIX / "proc_net/net/tcp6", FIX / "proc/basic/net/tcp"):
        write("proc_net_tcp", lines_of(p, 3))
        write("proc_net_tcp", lines_of(p, 12))


def proc_pid():
    for p in sorted((FIX / "proc/basic").glob("*/*")):
        if p.is_file() and p.name in ("status", "limits", "cgroup", "cmdline", "comm"):
            write("proc_pid", p.read_bytes())
    write("proc_pid", "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 "
                      "987654 10000000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0\n")
    write("proc_pid", "socket:[26100431]")
    write("proc_pid", "net:[4026531840]")
    write("proc_pid", "0::/system.slice/docker-" + "0123456789abcdef" * 4 + ".scope\n")
    write("proc_pid", "12:pids:/kubepods/cri-containerd-" + "fedcba9876543210" * 4 + ".scope\n")
    write("proc_pid", "ffffffff82066a70 t tw_timer_handler\nffffffffc0000000 t x\t[mod]\n")


def proc_counters():
    for p in sorted(FIX.glob("proc_sys/*/net/*")):
        write("proc_counters", lines_of(p, 4))


def sysctl():
    seen = set()
    for p in sorted(FIX.glob("proc_sys/*/sys/**/*")):
        if p.is_file() and p.read_bytes() not in seen:
            seen.add(p.read_bytes())
            write("sysctl", p.read_bytes())
    write("sysctl", "1000-1005,2000\n")


def kernel_config():
    gz = (FIX / "proc_sys/linux-6.18/config.gz").read_bytes()
    write("kernel_config", gz)
    write("kernel_config", gzip.decompress(gz))
    write("kernel_config", gzip.compress(b"# CONFIG_INET_DIAG_DESTROY is not set\nCONFIG_HZ=1000\n", mtime=0))


def register():
    reg = FIX / "register"
    events = (reg / "events.bin").read_bytes()
    for i in range(0, min(len(events), 4 * 112), 112):
        write("register", b"\x00" + events[i:i + 112])
    entries = (reg / "entries.bin").read_bytes()
    for i in range(0, min(len(entries), 3 * 48), 48):
        write("register", b"\x01" + entries[i:i + 48])
    write("register", b"\x02" + (reg / "counters.bin").read_bytes())
    # struct sr_info: abi 1, pid, start ticks, boot ns, real ns, max_entries, features, reserved.
    write("register", b"\x03" + struct.pack("<IIQQQII32x", 1, 4242, 987654, 10**9, 1_700_000_000 * 10**9,
                                              131072, 1))
    # task_sockets records: kind, tgid, fd, family, inode, sk (SOCKET, SOCKET, PROCESS).
    recs = struct.pack("<IIIIQQ", 1, 100, 3, 2, 26100431, 0xffff888000000000)
    recs += struct.pack("<IIIIQQ", 1, 100, 4, 10, 26100432, 0xffff888000000100)
    recs += struct.pack("<IIIIQQ", 2, 100, 9, 0, 0, 0)
    write("register", b"\x04" + recs)
    # iter/tcp socket records recorded from the state farm (tests/fixtures/tcp_iter).
    tcp = (FIX / "tcp_iter" / "statefarm_iter.bin").read_bytes()
    write("register", b"\x05" + tcp[:8 * 112])


def tcp_iter():
    # port_tuples entries: key (family, pad, dport, saddr[16], daddr[16]) then value (live,
    # time_wait, tw_left_min, tw_left_max); byte 0 picks HZ.
    v4 = struct.pack("<BBH16s16s", 2, 0, 9000, bytes([127, 0, 0, 1]) + bytes(12),
                     bytes([127, 0, 0, 1]) + bytes(12)) + struct.pack("<QQII", 3, 5, 250, 15000)
    v6 = struct.pack("<BBH16s16s", 10, 0, 443, bytes(15) + b"\x01", bytes(15) + b"\x01") + \
        struct.pack("<QQII", 0, 1, 100, 100)
    write("tcp_iter", b"\x01" + v4)
    write("tcp_iter", b"\x03" + v4 + v6)


def lab_text():
    write("lab_text", "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 17\r\n\r\nbody")
    write("lab_text", "HTTP/1.1 404 Not Found\r\ncontent-length:0\r\n\r\n")
    write("lab_text", "nginx version: nginx/1.22.1\n")
    write("lab_text", "123456789012")


def user_text():
    for s in ("127.0.0.1:8080", "[::1]:443", "fe80::1", "close-wait,fin-wait-2,bucket",
              "port:443 pid:12 state:close-wait proc:nginx", ":8080 estab java"):
        write("user_text", s)


def escape():
    for s in (b"nginx: worker process", b"evil\x1b]0;title\x07", b"ab\xe2\x80\xaetxt.exe",
              b"caf\xc3\xa9 \xff\xfe", b"back\\slash \xc2\x9b", "名前 😀".encode()):
        write("escape", s)


def serve_input():
    for s in ("127.0.0.1:10188", "[::1]:10188", ":10188", "localhost:0", "2h30m", "14d", "all",
              "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n",
              "basic_auth_users:\n  prometheus: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n",
              "tls_server_config:\n  client_auth_type: RequireAndVerifyClientCert\n"):
        write("serve_input", s)


def history_db():
    # A real database `sockdoctor history record` wrote: 4 intervals, 3 CLOSE_WAIT holders.
    write("history_db", (FIX / "history" / "small.db").read_bytes())


def main():
    for fn in (sock_diag, proc_net_tcp, proc_pid, proc_counters, sysctl, kernel_config, register,
               tcp_iter, lab_text, user_text, escape, serve_input, history_db):
        fn()
    for d in sorted(OUT.iterdir()):
        print(f"{d.name}: {len(list(d.iterdir()))} seeds", file=sys.stderr)


if __name__ == "__main__":
    main()
