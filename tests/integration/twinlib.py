"""Starting the aws-twin (tests/servers/aws-twin) from an integration test: its npm packages are
installed once per build tree under a lock (ctest runs tests in parallel, and two npm installs
into one folder break each other), the server is started on a free loopback port, and its
control endpoint is called. A test without node or the packages is skipped (exit 77)."""
import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.request

BUILD = os.environ.get("RETRAIND_BUILD", ".")
SRC = os.environ.get("RETRAIND_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
SERVER = os.path.join(SRC, "tests", "servers", "aws-twin", "server.js")
MODULES = ("@smithy/signature-v4", "@aws-crypto/sha256-js", "s3rver")


def skip(why):
    print("SKIP:", why, flush=True)
    sys.exit(77)


def install():
    """Returns the node_modules folder of the twin's packages, installing them when missing."""
    if not shutil.which("node"):
        skip("node not installed")
    d = os.path.join(os.path.abspath(BUILD), "aws-twin")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, ".install-lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        mods = os.path.join(d, "node_modules")
        if all(os.path.isdir(os.path.join(mods, m)) for m in MODULES):
            return mods
        if not shutil.which("npm"):
            skip("the aws-twin npm packages are missing and npm is not installed")
        shutil.copy(os.path.join(SRC, "tests", "servers", "aws-twin", "package.json"), d)
        p = subprocess.run(["npm", "install", "--prefix", d, "--no-audit", "--no-fund"],
                           capture_output=True, text=True, timeout=400)
        if p.returncode != 0:
            skip("npm install failed: " + p.stderr[-400:])
    return mods


class Twin:
    """A running twin: .port, .base, control(path, body), close()."""

    def __init__(self, *args):
        mods = install()
        # s3rver makes ListObjectsV2 continuation tokens with DES (README.md).
        node = ["node", "--openssl-legacy-provider"] if "--s3rver" in args else ["node"]
        self.proc = subprocess.Popen([*node, SERVER, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=dict(os.environ, NODE_PATH=mods))
        line = self.proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            self.close()
            print("FAIL: the twin did not start: %r" % line, flush=True)
            sys.exit(1)
        self.port = int(line.split()[1])
        self.base = "http://127.0.0.1:%d" % self.port

    def control(self, path, body=None, method="POST"):
        """POST (or GET with method="GET") /__control/<path>; returns the JSON reply."""
        data = None if method == "GET" else json.dumps(body or {}).encode()
        req = urllib.request.Request(self.base + "/__control/" + path, method=method, data=data,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def ssm(self, op, body):
        """A signed SSM call as another tool would make it (`retraind sign` signs with the
        environment's keys, we send): returns (status, JSON reply)."""
        data = json.dumps(body)
        raw = ("POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/x-amz-json-1.1"
               "\r\nX-Amz-Target: AmazonSSM.%s\r\nContent-Length: %d\r\n\r\n%s"
               % (self.port, op, len(data), data))
        r = subprocess.run([os.environ.get("RETRAIND_BIN", "build/retraind"), "sign", "--region",
                            "us-east-1", "--service", "ssm", "--no-imds"], input=raw.encode(),
                           capture_output=True, timeout=30)
        if r.returncode != 0:
            print("FAIL: retraind sign failed: %r" % r.stderr, flush=True)
            sys.exit(1)
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as c:
            c.sendall(r.stdout)
            c.shutdown(socket.SHUT_WR)
            reply = b""
            while True:
                k = c.recv(65536)
                if not k:
                    break
                reply += k
        head, _, payload = reply.partition(b"\r\n\r\n")
        return int(head.split()[1]), json.loads(payload or b"{}")

    def close(self):
        """Stops the server (it exits when its stdin closes)."""
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
