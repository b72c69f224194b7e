#!/usr/bin/env python3
"""`sockdoctor serve --web.config.file`: TLS and basic auth in the exporter-toolkit format, with a
self-signed certificate made here (openssl) and a bcrypt hash (Python's crypt). Good credentials
over HTTPS get /metrics; none or wrong ones get 401; plain HTTP gets nothing; a config key the
exporter does not implement stops it at start with a message instead of running without it."""

import base64
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import servekit  # noqa: E402


def bcrypt_hash(password: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt  # removed in Python 3.13
        except ImportError:
            return None
    h = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=32))
    return h if h and h.startswith("$2") else None


def auth(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def body(args, checks):
    sd = args.sockdoctor
    if shutil.which("openssl") is None:
        harness.skip("openssl is not installed")
    hashed = bcrypt_hash("s3cret")
    if hashed is None:
        harness.skip("this Python cannot make bcrypt hashes (no crypt module)")
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                        "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", os.path.join(d, "key.pem"), "-out", os.path.join(d, "cert.pem")],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        web = os.path.join(d, "web.yml")
        with open(web, "w") as f:
            f.write("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n"
                    f"basic_auth_users:\n  prom: '{hashed}'\n")
        ctx = ssl.create_default_context(cafile=os.path.join(d, "cert.pem"))
        with servekit.Exporter(sd, "--web.config.file", web) as exp:
            checks.check(any("https://" in l and "basic auth" in l for l in exp.stderr_lines),
                         "it says it serves HTTPS with basic auth", "\n".join(exp.stderr_lines))
            url = exp.url(scheme="https")
            status, _, raw = servekit.get(url, headers=auth("prom", "s3cret"), context=ctx)
            checks.equal(status, 200, "HTTPS with the right password: 200")
            checks.check(b"sockdoctor_build_info" in raw, "and the metrics")
            status, headers, _ = servekit.get(url, context=ctx)
            checks.equal(status, 401, "no credentials: 401")
            checks.check("Basic" in headers.get("WWW-Authenticate", ""),
                         "with WWW-Authenticate: Basic")
            checks.equal(servekit.get(url, headers=auth("prom", "wrong"), context=ctx)[0], 401,
                         "a wrong password: 401")
            checks.equal(servekit.get(url, headers=auth("eve", "s3cret"), context=ctx)[0], 401,
                         "an unknown user: 401")
            try:
                plain = servekit.get(exp.url(), headers=auth("prom", "s3cret"), timeout=10)[0]
            except OSError:
                plain = None
            checks.check(plain != 200, "plain HTTP to the TLS port gets no metrics", str(plain))

        with open(web, "w") as f:
            f.write("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n"
                    "  client_auth_type: RequireAndVerifyClientCert\n")
        r = subprocess.run([sd, "serve", "--listen", "127.0.0.1:0", "--web.config.file", web],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        err = r.stderr.decode(errors="replace")
        checks.equal(r.returncode, 3, "an unsupported key stops serve at start (exit 3)")
        checks.check("client_auth_type" in err and "not supported" in err,
                     "and names the key", err)


if __name__ == "__main__":
    harness.main_wrapper("serve_web_config", body)
