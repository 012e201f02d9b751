#!/usr/bin/env python3
"""creds_sign - `retraind sign` without keys takes its credentials from the chain.

Runs the real binary with a clean environment (only PATH, HOME in a temporary folder, and the
variables each case sets) and checks the signed request it prints against a SigV4 signature
computed here with the secret the source was expected to give, so the test proves which
credentials were used, not just that something was printed. Sources: a profile file (default and
AWS_PROFILE), environment keys over a profile, the fake container endpoint and the fake IMDS of
the aws-twin server (tests/servers/aws-twin, routes/creds.js; the server counts requests, so "IMDS
was not touched" is checked on its side), "no credentials" (exit 1, every source listed), a
missing named profile (exit 1) and an IMDS that never answers (exit 1 after a short wait, printed
as a figure). No secret may appear on stderr, also with --verbose.

IMDS and --no-imds run against a small IMDSv2 server started here (stdlib only, so they never
skip): without keys `sign` goes down the whole default chain to IMDS, as the SDKs do, and signs
with the keys IMDS handed out; with --no-imds (or AWS_EC2_METADATA_DISABLED=true) the server is
not contacted at all and the "no credentials" message says IMDS was skipped. `sign --help` must
document the chain's order.

Skips (77) when node/npm or the twin's npm packages are unavailable, after running the cases that
need no server.
"""
import fcntl
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BIN = os.environ.get("RETRAIND_BIN", "build/retraind")
BUILD = os.environ.get("RETRAIND_BUILD", os.path.dirname(BIN))
SRC = os.environ.get("RETRAIND_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
TMP = tempfile.mkdtemp(prefix="rt-creds-")
REQUEST = b"GET /?Action=ListUsers&Version=2010-05-08 HTTP/1.1\nHost: iam.amazonaws.com\n\n"
AMZ_DATE = "20150830T123600Z"


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def sigv4_expected(access_key, secret, token, service="iam", region="us-east-1"):
    """The Authorization header for REQUEST, computed independently of retraind."""
    signed = ["host", "x-amz-date"] + (["x-amz-security-token"] if token else [])
    values = {"host": "iam.amazonaws.com", "x-amz-date": AMZ_DATE, "x-amz-security-token": token}
    canon_headers = "".join("%s:%s\n" % (h, values[h]) for h in signed)
    canonical = "\n".join(["GET", "/", "Action=ListUsers&Version=2010-05-08", canon_headers,
                           ";".join(signed), hashlib.sha256(b"").hexdigest()])
    scope = "%s/%s/%s/aws4_request" % (AMZ_DATE[:8], region, service)
    sts = "\n".join(["AWS4-HMAC-SHA256", AMZ_DATE, scope,
                     hashlib.sha256(canonical.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (AMZ_DATE[:8], region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    return "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        access_key, scope, ";".join(signed), sig)


def home(name):
    d = os.path.join(TMP, name)
    os.makedirs(os.path.join(d, ".aws"), exist_ok=True)
    return d


def sign(env, verbose=False, region="us-east-1", extra=()):
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AWS_EC2_METADATA_DISABLED": "true"}
    full.update(env)
    full = {k: v for k, v in full.items() if v is not None}
    args = [BIN, "sign", "--service", "iam", "--time", AMZ_DATE]
    if region:
        args += ["--region", region]
    if verbose:
        args.append("--verbose")
    args += list(extra)
    t0 = time.monotonic()
    p = subprocess.run(args, input=REQUEST, capture_output=True, env=full, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode(), time.monotonic() - t0


def header(out, name):
    for line in out.splitlines():
        if line.lower().startswith(name.lower() + ":"):
            return line.split(":", 1)[1].strip()
    return None


def expect_signed(case, env, access_key, secret, token=None, verbose=False, extra=()):
    rc, out, err, _ = sign(env, verbose, extra=extra)
    check(rc == 0, "%s: exit %d, stderr: %s" % (case, rc, err))
    got = header(out, "Authorization")
    check(got == sigv4_expected(access_key, secret, token),
          "%s: Authorization %r is not the one made with the %s keys" % (case, got, access_key))
    check(header(out, "X-Amz-Security-Token") == token,
          "%s: X-Amz-Security-Token %r, want %r" % (case, header(out, "X-Amz-Security-Token"),
                                                    token))
    check(secret not in err and secret not in out, "%s: the secret key was printed" % case)
    if token:
        check(token not in err, "%s: the session token reached stderr" % case)
    print("ok: %s" % case, flush=True)
    return out, err


# ---- cases without a server ----

def local_cases():
    h = home("profile")
    with open(os.path.join(h, ".aws", "credentials"), "w") as f:
        f.write("[default]\naws_access_key_id = AKIDPROFDEF\naws_secret_access_key = prof-def-Sk1\n"
                "[work]\naws_access_key_id = AKIDPROFWORK\naws_secret_access_key = prof-work-Sk2\n"
                "aws_session_token = prof-work-token\n")
    with open(os.path.join(h, ".aws", "config"), "w") as f:
        f.write("[profile cfg]\naws_access_key_id = AKIDCFG\naws_secret_access_key = cfg-Sk3\n"
                "region = eu-west-3\n")
    expect_signed("profile default", {"HOME": h}, "AKIDPROFDEF", "prof-def-Sk1")
    expect_signed("profile named by AWS_PROFILE", {"HOME": h, "AWS_PROFILE": "work"},
                  "AKIDPROFWORK", "prof-work-Sk2", "prof-work-token", verbose=True)
    expect_signed("profile from the config file", {"HOME": h, "AWS_PROFILE": "cfg"},
                  "AKIDCFG", "cfg-Sk3")
    expect_signed("AWS_SHARED_CREDENTIALS_FILE",
                  {"HOME": home("empty"),
                   "AWS_SHARED_CREDENTIALS_FILE": os.path.join(h, ".aws", "credentials")},
                  "AKIDPROFDEF", "prof-def-Sk1")
    expect_signed("environment beats AWS_PROFILE",
                  {"HOME": h, "AWS_PROFILE": "work", "AWS_ACCESS_KEY_ID": "AKIDENV",
                   "AWS_SECRET_ACCESS_KEY": "env-Sk4"}, "AKIDENV", "env-Sk4")

    # --region beats the profile's region (the case above); without it the profile's is used.
    rc, out, err, _ = sign({"HOME": h, "AWS_PROFILE": "cfg"}, region=None)
    check(rc == 0, "region from the profile: exit %d, stderr: %s" % (rc, err))
    auth = header(out, "Authorization")
    check("/eu-west-3/iam/aws4_request" in auth, "region from the profile: %r" % auth)
    check(auth == sigv4_expected("AKIDCFG", "cfg-Sk3", None, region="eu-west-3"),
          "region from the profile: signature %r" % auth)
    rc, out, err, _ = sign({"HOME": h, "AWS_PROFILE": "work"}, region=None)
    check(rc == 2 and "no region" in err, "no region anywhere: %d %r" % (rc, err))
    print("ok: region from the profile, --region beats it", flush=True)

    rc, out, err, _ = sign({"HOME": h, "AWS_PROFILE": "missing"})
    check(rc == 1, "missing named profile: exit %d, want 1" % rc)
    check("missing" in err and "no such profile" in err, "missing named profile: %r" % err)
    check(out == "", "missing named profile: printed a request")
    print("ok: a missing named profile is an error", flush=True)

    rc, out, err, _ = sign({"HOME": home("nothing")})
    check(rc == 1, "no credentials: exit %d, want 1" % rc)
    for src in ("environment", "web-identity", "profile", "container", "imds"):
        check(src in err, "no credentials: %r does not name %s" % (err, src))
    print("ok: no credentials lists the sources tried", flush=True)


# ---- IMDS and --no-imds (a local IMDSv2 server, no node needed) ----

class ImdsHandler(BaseHTTPRequestHandler):
    """IMDSv2: PUT /latest/api/token, then the role and its credentials with the token."""
    protocol_version = "HTTP/1.1"
    TOKEN = "imds-local-token-Xy7"

    def log_message(self, fmt, *args):  # quiet
        pass

    def reply(self, status, body, ctype="text/plain"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def count(self):
        with self.server.lock:
            self.server.hits.append("%s %s" % (self.command, self.path))

    def do_PUT(self):
        self.count()
        if self.path == "/latest/api/token" and \
                self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            self.reply(200, self.TOKEN)
        else:
            self.reply(400, "bad token request")

    def do_GET(self):
        self.count()
        if self.headers.get("X-aws-ec2-metadata-token") != self.TOKEN:
            self.reply(401, "")
        elif self.path == "/latest/meta-data/iam/security-credentials/":
            self.reply(200, "local-role\n")
        elif self.path == "/latest/meta-data/iam/security-credentials/local-role":
            exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
            self.reply(200, json.dumps({"Code": "Success", "Type": "AWS-HMAC",
                                        "AccessKeyId": "ASIALOCALIMDS",
                                        "SecretAccessKey": "local-imds-Sk8",
                                        "Token": "local-imds-session", "Expiration": exp}),
                       "application/json")
        else:
            self.reply(404, "")


class ImdsServer:
    def __init__(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), ImdsHandler)
        self.httpd.lock = threading.Lock()
        self.httpd.hits = []
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def hits(self):
        with self.httpd.lock:
            return list(self.httpd.hits)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def imds_cases():
    rc, out, err, _ = sign({"HOME": home("help")}, extra=["--help"])
    check(rc == 0, "sign --help: exit %d" % rc)
    order = [out.find(w) for w in ("environment", "web identity", "profile", "container",
                                   "IMDS")]
    check(-1 not in order and order == sorted(order),
          "sign --help does not document the chain in order: %r" % out)
    check("--no-imds" in out and "AWS_EC2_METADATA_DISABLED" in out,
          "sign --help does not say how to skip IMDS: %r" % out)
    print("ok: sign --help documents the chain", flush=True)

    srv = ImdsServer()
    try:
        h = home("imds-local")
        env = {"HOME": h, "AWS_EC2_METADATA_DISABLED": None,
               "AWS_EC2_METADATA_SERVICE_ENDPOINT": srv.url}
        # Without keys: the full default chain, down to IMDS.
        expect_signed("IMDS at the end of the default chain", env, "ASIALOCALIMDS",
                      "local-imds-Sk8", "local-imds-session")
        hits = srv.hits()
        check("PUT /latest/api/token" in hits and any("local-role" in x for x in hits),
              "IMDS: the server saw %r" % hits)
        # --no-imds: IMDS is never contacted, and the message says it was skipped.
        before = len(srv.hits())
        rc, out, err, _ = sign(env, extra=["--no-imds"])
        check(rc == 1, "--no-imds: exit %d, want 1; stderr %r" % (rc, err))
        check(out == "", "--no-imds: printed a request")
        check("no credentials found" in err and "IMDS was skipped (--no-imds)" in err,
              "--no-imds: message %r" % err)
        for src in ("environment", "web-identity", "profile", "container"):
            check(src in err, "--no-imds: %r does not name %s" % (err, src))
        check(len(srv.hits()) == before, "--no-imds: IMDS was contacted: %r" % srv.hits())
        # --no-imds changes nothing when an earlier source answers.
        expect_signed("--no-imds with environment keys",
                      dict(env, AWS_ACCESS_KEY_ID="AKIDENVNI", AWS_SECRET_ACCESS_KEY="ni-Sk2"),
                      "AKIDENVNI", "ni-Sk2", extra=["--no-imds"])
        # AWS_EC2_METADATA_DISABLED=true keeps IMDS out the same way.
        rc, out, err, _ = sign(dict(env, AWS_EC2_METADATA_DISABLED="true"))
        check(rc == 1 and "AWS_EC2_METADATA_DISABLED" in err,
              "AWS_EC2_METADATA_DISABLED: exit %d, %r" % (rc, err))
        check(len(srv.hits()) == before, "AWS_EC2_METADATA_DISABLED: IMDS was contacted")
        print("ok: --no-imds and AWS_EC2_METADATA_DISABLED never contact IMDS", flush=True)
    finally:
        srv.stop()


# ---- the twin ----

def twin_install():
    d = os.path.join(BUILD, "aws-twin")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, ".install-lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isfile(os.path.join(d, "node_modules", "@smithy", "signature-v4",
                                       "package.json")):
            return d
        if not shutil.which("npm") or not shutil.which("node"):
            return None
        shutil.copy(os.path.join(SRC, "tests", "servers", "aws-twin", "package.json"), d)
        p = subprocess.run(["npm", "install", "--prefix", d, "--no-audit", "--no-fund"],
                           capture_output=True, text=True, timeout=400)
        if p.returncode != 0:
            print("npm install failed: " + p.stderr[-400:])
            return None
    return d


class Twin:
    def __init__(self, d):
        env = dict(os.environ, NODE_PATH=os.path.join(d, "node_modules"))
        self.proc = subprocess.Popen(
            ["node", os.path.join(SRC, "tests", "servers", "aws-twin", "server.js")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        line = self.proc.stdout.readline().decode()
        check(line.startswith("PORT "), "aws-twin did not start: %r" % line)
        self.port = int(line.split()[1])
        self.url = "http://127.0.0.1:%d" % self.port

    def control(self, path, body=None):
        req = urllib.request.Request(self.url + "/__control/" + path,
                                     data=json.dumps(body or {}).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"{}")

    def counts(self):
        return self.control("creds/counts")

    def stop(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def twin_cases(t):
    h = home("twin")
    t.control("reset")
    t.control("creds/config", {"ecs": {"token": "Bearer ecs-Au5"}, "secret_prefix": "tw-Sk9"})
    token_file = os.path.join(TMP, "ecs-token")
    with open(token_file, "w") as f:
        f.write("Bearer ecs-Au5\n")
    env = {"HOME": h, "AWS_CONTAINER_CREDENTIALS_FULL_URI": t.url + "/ecs/creds",
           "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": token_file,
           "AWS_EC2_METADATA_DISABLED": None, "AWS_EC2_METADATA_SERVICE_ENDPOINT": t.url}
    out, err = expect_signed("container endpoint (FULL_URI + token file)", env, "ASIAECS1",
                             "tw-Sk9-ecs-1", "ecs-session-1", verbose=True)
    check("ecs-Au5" not in err, "the container authorization token reached stderr")
    c = t.counts()
    check(c["ecs"] == 1 and c["ecs_bad_auth"] == 0, "container: server counts %r" % c)
    check(c["imds_token"] == 0 and c["imds_role"] == 0,
          "container answered, yet IMDS was asked: %r" % c)

    # A profile answers: neither the container nor IMDS is asked.
    with open(os.path.join(h, ".aws", "credentials"), "w") as f:
        f.write("[default]\naws_access_key_id = AKIDTWINPROF\naws_secret_access_key = tp-Sk6\n")
    expect_signed("profile before container and IMDS", env, "AKIDTWINPROF", "tp-Sk6")
    c = t.counts()
    check(c["ecs"] == 1 and c["imds_token"] == 0, "profile answered, yet %r" % c)
    os.remove(os.path.join(h, ".aws", "credentials"))

    # IMDS alone.
    env_imds = {"HOME": h, "AWS_EC2_METADATA_DISABLED": None,
                "AWS_EC2_METADATA_SERVICE_ENDPOINT": t.url}
    expect_signed("IMDSv2", env_imds, "ASIAIMDS2", "tw-Sk9-imds-2", "imds-session-2")
    c = t.counts()
    check(c["imds_token"] == 1 and c["imds_creds"] == 1, "IMDS: server counts %r" % c)

    # An IMDS that accepts connections and never answers: sign gives up and says so.
    t.control("creds/config", {"imds": {"hang": True}})
    rc, out, err, secs = sign(env_imds)
    t.control("creds/config", {"imds": {"hang": False}})
    check(rc == 1, "silent IMDS: exit %d, want 1; stderr %r" % (rc, err))
    check("imds" in err and "no credentials found" in err, "silent IMDS: %r" % err)
    print("ok: silent IMDS gives up (took %.2f s)" % secs, flush=True)


def main():
    check(os.path.exists(BIN), "no binary at %s" % BIN)
    local_cases()
    imds_cases()
    d = twin_install()
    if not d:
        print("SKIP: node/npm or the aws-twin packages are unavailable (local cases passed)")
        sys.exit(77)
    t = Twin(d)
    try:
        twin_cases(t)
    finally:
        t.stop()
        shutil.rmtree(TMP, ignore_errors=True)
    print("PASS")


if __name__ == "__main__":
    main()
