#!/usr/bin/env python3
"""`sockdoctor serve`'s status page at "/" in a real headless Chromium (private netns, the serve
URL on 127.0.0.1 only): a client ("sd-pageleak<b>", a name with HTML in it) holds CLOSE_WAIT
sockets while serve records history every second; the DOM Chromium builds names the holder
(escaped, not markup) with its count, with JavaScript on and off, shows the history charts as
inline SVG, and a screenshot is a real PNG. SOCKDOCTOR_STATUS_SCREENSHOT=FILE keeps the
screenshot (docs/status-page.png is made that way)."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import json
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "check"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
try:
    import websocket  # Debian python3-websocket: Chromium's DevTools protocol
except ImportError:  # a python3 other than Debian's (pyenv): the package is pure Python
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import websocket
    except ImportError:
        websocket = None
import servekit  # noqa: E402
from history_leak_test import Server  # noqa: E402
from holders import Holder  # noqa: E402

NAME = "sd-pageleak<b>"  # comm is at most 15 bytes
HELD = 23
CHROMIUM_TIMEOUT_S = 90

LEAKER = r'''
socks = [socket.create_connection(("127.0.0.1", ARGS["port"])) for _ in range(ARGS["n"])]
ready()
hold()  # never read, never closed: each stays in CLOSE_WAIT after the server's close
'''


def chromium_binary():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium(binary: str, tmp: str, url: str, *extra: str) -> tuple[int, str, str]:
    """One headless run against `url`, killed (its process group, by id) after a bounded time."""
    profile = tempfile.mkdtemp(prefix="profile-", dir=tmp)
    argv = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", *extra, url]
    env = dict(os.environ, HOME=profile)
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env, cwd=tmp, start_new_session=True)
    try:
        out, err = p.communicate(timeout=CHROMIUM_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # its own session: only Chromium and its children
        out, err = p.communicate(timeout=30)
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)  # renderer or GPU children left behind
        except ProcessLookupError:
            pass
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def dom_without_javascript(binary: str, tmp: str, url: str) -> str:
    """The DOM of `url` with scripts disabled (--blink-settings=scriptEnabled=false). Headless
    Chromium's --dump-dom and --screenshot run script themselves and give nothing then, so the
    DOM is read over the DevTools protocol (DOM.getOuterHTML, no page script involved)."""
    profile = tempfile.mkdtemp(prefix="profile-", dir=tmp)
    log_path = os.path.join(profile, "stderr.log")
    argv = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", "--blink-settings=scriptEnabled=false",
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", url]
    with open(log_path, "wb") as log:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=log, env=dict(os.environ, HOME=profile), cwd=tmp,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + CHROMIUM_TIMEOUT_S
        port = None
        while port is None and time.monotonic() < deadline and p.poll() is None:
            with open(log_path, errors="replace") as f:
                m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", f.read())
            port = int(m.group(1)) if m else None
            time.sleep(0.2)
        if port is None:
            return ""
        dom = ""
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
            if pages:
                ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=20,
                                                 suppress_origin=True)
                try:
                    dom = devtools_outer_html(ws)
                finally:
                    ws.close()
                if "</table>" in dom:
                    return dom
            time.sleep(0.5)
        return dom
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)  # its own session: only Chromium and its children
        except ProcessLookupError:
            pass
        p.wait(timeout=30)


def devtools_outer_html(ws) -> str:
    def call(msg_id, method, params):
        ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:  # events arrive in between
            reply = json.loads(ws.recv())
            if reply.get("id") == msg_id:
                return reply.get("result", {})
    root = call(1, "DOM.getDocument", {"depth": 0})["root"]["nodeId"]
    return call(2, "DOM.getOuterHTML", {"nodeId": root}).get("outerHTML", "")


def holder_row(dom: str, name_html: str) -> int | None:
    m = re.search(r'<td class="holder">' + re.escape(name_html) + r'</td><td class="n">(\d+)</td>',
                  dom)
    return int(m.group(1)) if m else None


def body(args, checks):
    sd = args.sockdoctor
    binary = chromium_binary()
    if binary is None:
        harness.skip("chromium is not installed (scripts/setup.sh installs it)")
    tmp = tempfile.mkdtemp(prefix="sd-status-page-")
    db = os.path.join(tmp, "history.db")
    server = Server()
    leaker = None
    exporter = servekit.Exporter(sd, "--db", db, "--interval", "1")
    try:
        leaker = Holder(NAME, LEAKER, {"port": server.port, "n": HELD})
        url = exporter.url("/")
        name_html = "sd-pageleak&lt;b&gt;"
        # The server's FINs arrive and history records the leak (a holder chart needs intervals
        # of it): the page as served, polled, not a fixed sleep that a loaded box may outrun.
        page = b""
        end = time.monotonic() + 60
        while time.monotonic() < end:
            page = servekit.get(url, timeout=10)[2]
            if holder_row(page.decode("utf-8", "replace"), name_html) == HELD \
                    and page.count(b"<svg") >= 2:
                break
            time.sleep(0.5)
        time.sleep(1)  # one more interval for the charts to draw a line, not a point

        rc, dom, err = chromium(binary, tmp, url, "--dump-dom")
        checks.equal(rc, 0, "chromium --dump-dom exits 0")
        checks.equal(holder_row(dom, name_html), HELD,
                     "the DOM names the holder (escaped) with its CLOSE_WAIT count")
        checks.check("sd-pageleak<b>" not in dom, "the process name is text, not markup")
        checks.check(dom.count("<svg") >= 2, "the history charts are inline SVG (host and holder)",
                     f"{dom.count('<svg')} svg elements")
        checks.check('href="/metrics"' in dom, "the page links /metrics")
        if holder_row(dom, name_html) != HELD:
            print(dom[:4000], err[-2000:])

        if websocket is None:
            harness.skip("python3-websocket is not installed (scripts/setup.sh installs it)")
        dom = dom_without_javascript(binary, tmp, url)
        err = ""
        checks.equal(holder_row(dom, name_html), HELD,
                     "without JavaScript the DOM still shows the holder and its count")
        if holder_row(dom, name_html) != HELD:
            print(f"DOM ({len(dom)} chars): {dom[:3000]}\nstderr: {err[-2000:]}")
        m = re.search(r'<td>CLOSE-WAIT</td><td class="n">(\d+)</td>', dom)
        checks.check(m is not None and int(m.group(1)) >= HELD,
                     "and the CLOSE-WAIT count per state", m.group(0) if m else dom[:2000])

        shot = os.path.join(tmp, "status.png")
        rc, _, err = chromium(binary, tmp, url, f"--screenshot={shot}", "--window-size=1280,1000",
                              "--hide-scrollbars")
        size = os.path.getsize(shot) if os.path.exists(shot) else 0
        with open(shot, "rb") if size else open(os.devnull, "rb") as f:
            magic = f.read(8)
        checks.check(rc == 0 and magic == b"\x89PNG\r\n\x1a\n" and size > 10_000,
                     "the screenshot is a non-trivial PNG", f"rc {rc}, {size} bytes, {err[-500:]}")
        keep = os.environ.get("SOCKDOCTOR_STATUS_SCREENSHOT")
        if keep and size:
            shutil.copyfile(shot, keep)
    finally:
        exporter.stop()
        if leaker is not None:
            leaker.stop()
        server.stop = True
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    harness.main_wrapper("serve_status_page", body)
