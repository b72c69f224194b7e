#!/usr/bin/env python3
"""`sockdoctor serve` under abuse, bounded to a few tens of seconds: 200 concurrent scrapes, slow
clients that send one byte a second, requests whose clients vanish, oversized and malformed
requests. The exporter keeps answering, cuts the slow clients at --web.connection-timeout,
holds no CLOSE_WAIT socket of its own afterwards (ss and sockdoctor ls agree), and its VmRSS
stays flat."""

import os
import socket
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import servekit  # noqa: E402

TIMEOUT = 3  # --web.connection-timeout for this test
SLOW = 40
SCRAPES = 200
VANISH = 100


def slow_client(port: int, results: list) -> None:
    """Sends a request one byte a second; records how long the exporter let it live."""
    start = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        for b in b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"y" * 60:
            s.send(bytes([b]))
            time.sleep(1)
            if time.monotonic() - start > 25:
                break
    except OSError:
        pass  # cut off: what we want
    finally:
        s.close()
    results.append(time.monotonic() - start)


def vanish(port: int, i: int) -> None:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if i % 2 == 0:
        s.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")  # then gone before the answer
    if i % 4 == 1:  # some leave with a RST instead of a FIN
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def raw_request(port: int, data: bytes) -> bytes:
    """What the exporter answers to raw bytes (b"" if it just closes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
        return b"".join(chunks)
    except OSError:
        return b""
    finally:
        s.close()


def status_of(reply: bytes) -> int:
    try:
        return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.") else 0
    except (IndexError, ValueError):
        return 0


def scrape_ok(exp, timeout: float = 30) -> bool:
    try:
        return servekit.get(exp.url(), timeout=timeout)[0] == 200
    except OSError:
        return False


def timed_scrape(exp) -> float:
    t0 = time.monotonic()
    scrape_ok(exp)
    return time.monotonic() - t0


def close_wait_of(pid: int) -> tuple[list[str], list[str]]:
    ss = subprocess.run(["ss", "-tanpH", "state", "close-wait"], stdout=subprocess.PIPE,
                        timeout=30).stdout.decode(errors="replace").splitlines()
    by_ss = [l for l in ss if f"pid={pid}," in l]
    return by_ss, ss


def body(args, checks):
    sd = args.sockdoctor
    with servekit.Exporter(sd, "--min-interval", "0", "--web.connection-timeout",
                           str(TIMEOUT), "--web.max-connections", "16") as exp:
        port = exp.port
        took_one = sorted(timed_scrape(exp) for _ in range(50))[25]
        # Each of the 200 waits behind the slow clients and up to 200/16 samples: a sample walks
        # the host's whole socket table (every namespace shares it), so a neighbour holding many
        # sockets makes each one slower. The clients' patience follows what a sample costs here.
        patience = max(30.0, 40 * took_one)
        rss_before = servekit.rss_kib(exp.pid)

        slow_times = []
        slow = [threading.Thread(target=slow_client, args=(port, slow_times)) for _ in range(SLOW)]
        for t in slow:
            t.start()
        time.sleep(1)
        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=SCRAPES) as pool:
            scrapes = [pool.submit(scrape_ok, exp, patience) for _ in range(SCRAPES)]
            vanished = [pool.submit(vanish, port, i) for i in range(VANISH)]
            ok = sum(f.result() for f in scrapes)
            for f in vanished:
                f.result()
        took = time.monotonic() - t0
        checks.equal(ok, SCRAPES, f"{SCRAPES} concurrent scrapes beside {SLOW} slow clients and "
                     f"{VANISH} vanishing ones all answered 200 (in {took:.1f} s; one scrape "
                     f"alone {took_one:.3f} s)")

        big_header = raw_request(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: "
                                 + b"a" * 100000 + b"\r\n\r\n")
        checks.check(status_of(big_header) in (0, 400, 413, 431),
                     "a 100 kB header is refused", big_header[:200])
        long_uri = raw_request(port, b"GET /" + b"m" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        checks.check(status_of(long_uri) in (0, 400, 414), "a 20 kB URI is refused", long_uri[:200])
        body_post = raw_request(port, b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: "
                                b"10000000\r\n\r\n" + b"z" * 65536)
        checks.check(status_of(body_post) in (0, 405, 413), "a 10 MB POST is refused",
                     body_post[:200])
        for junk in (b"GARBAGE\r\n\r\n", b"\x00\xff\xfe\r\n\r\n", b"GET\r\n\r\n",
                     b"GET /metrics HTTP/9.9\r\n\r\n", b"GET /metrics HTTP/1.1\r\nNoColon\r\n\r\n"):
            reply = raw_request(port, junk)
            checks.check(status_of(reply) in (0, 400, 404, 405, 505),
                         f"malformed {junk[:20]!r} gets an error or a close", reply[:200])

        for t in slow:
            t.join(timeout=40)
        longest = max(slow_times) if slow_times else 0
        checks.equal(len(slow_times), SLOW, "every slow client finished")
        # The cut comes at the timeout plus a grace of twice the last sample's duration (and a
        # reaper scan); a sample on a loaded box takes about what one scrape took.
        checks.check(longest < TIMEOUT + 8 + 4 * took_one,
                     f"slow clients were cut off near --web.connection-timeout {TIMEOUT} s",
                     f"longest lived {longest:.1f} s")
        print(f"note: the longest slow client lived {longest:.1f} s")
        checks.check(scrape_ok(exp), "the exporter still answers after the abuse")

        # Connections the exporter still holds finish within the timeout; then nothing of its
        # own may be left in CLOSE_WAIT.
        deadline = time.monotonic() + TIMEOUT + 10
        mine, _ = close_wait_of(exp.pid)
        while mine and time.monotonic() < deadline:
            time.sleep(0.5)
            mine, _ = close_wait_of(exp.pid)
        checks.equal(mine, [], "ss: the exporter holds no CLOSE_WAIT socket")
        doc = harness.sockdoctor_json(sd, "ls", "--state", "close-wait", "--json")
        owned = [s for s in doc["sockets"]
                 if any(o["pid"] == exp.pid for o in s.get("owners", []))]
        checks.equal(owned, [], "sockdoctor ls: none owned by the exporter either")

        for _ in range(50):
            scrape_ok(exp)
        rss_after = servekit.rss_kib(exp.pid)
        if servekit.sanitized(sd):
            print(f"note: AddressSanitizer build (its quarantine holds freed memory): VmRSS "
                  f"{rss_before} kB before, {rss_after} kB after, not checked")
        else:
            checks.check(rss_after < rss_before + 16 * 1024,
                         f"VmRSS stays flat ({rss_before} kB before, {rss_after} kB after)")


if __name__ == "__main__":
    harness.main_wrapper("serve_load", body)
