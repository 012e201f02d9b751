#!/usr/bin/env python3
"""http_server.py - an HTTP/1.1 test server that can be told, per request, to misbehave.

Listens on 127.0.0.1 on an ephemeral port and prints "PORT <n>" on stdout. With --tls DIR it
serves HTTPS with a fresh self-signed certificate for 127.0.0.1 written to DIR/cert.pem (made
with the openssl command), which a client must be given as its CA file. Exits when its stdin
closes (so it never outlives the test that started it) or on SIGTERM. Stdlib only.

Query parameters of any path (combine freely):
  key=K        count this request under K (see /stats)
  status=N     answer status N (default 200)
  fail=N       with key: the first N requests of K answer `status` (default 503), later ones 200
  delay=MS     wait MS milliseconds before answering
  reset=1      close the connection with a TCP reset instead of answering
  truncate=1   promise 100 bytes of body, send 10, close
  huge=N       send a body of N bytes (chunked=1: without Content-Length)
  date=TEXT    send TEXT as the Date header (default: now)
  body=TEXT    the body (default "ok"; /echo answers the request body)
  throttle=1   with fail: the failing answers are 400 with body "Throttling"
Special paths:
  /stats       JSON: {"connections": N (TCP connections that carried a non-/stats request),
               "keys": {K: count}, "times": {K: [arrival time in ms, ...]},
               "headers": {K: {name: value} of the last request of K}}
  /echo        answers the request body and X-Echo-Method / X-Echo-Length headers
"""
import json
import os
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATS = {"connections": 0, "keys": {}, "times": {}, "headers": {}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.counted = False

    def log_message(self, fmt, *args):  # quiet
        pass

    def do_GET(self):
        self.handle_any()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def answer(self, status, body, extra=None, date=None, content_length=None):
        self.send_response_only(status)
        self.send_header("Date", date if date else self.date_time_string())
        self.send_header("Server", "rt-test")
        self.send_header("x-amzn-RequestId", "req-%d" % int(time.time() * 1000))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        n = len(body) if content_length is None else content_length
        self.send_header("Content-Length", str(n))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length", "0") or "0")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            reqbody = self.read_chunked()
        else:
            reqbody = self.rfile.read(length) if length else b""
        if url.path == "/stats":
            with LOCK:
                data = json.dumps(STATS).encode()
            self.answer(200, data, {"Content-Type": "application/json"})
            return
        key = q.get("key")
        with LOCK:
            if not self.counted:
                self.counted = True
                STATS["connections"] += 1
            n = 0
            if key:
                n = STATS["keys"].get(key, 0) + 1
                STATS["keys"][key] = n
                STATS["times"].setdefault(key, []).append(int(time.time() * 1000))
                STATS["headers"][key] = {k: v for k, v in self.headers.items()}
        if "delay" in q:
            time.sleep(int(q["delay"]) / 1000.0)
        if q.get("reset") == "1":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if q.get("truncate") == "1":
            self.answer(200, b"0123456789", content_length=100)
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        status = int(q.get("status", "200"))
        body = q.get("body", "ok").encode()
        if "fail" in q:
            if n <= int(q["fail"]):
                if q.get("throttle") == "1":
                    status, body = 400, b"Throttling"
                elif "status" not in q:
                    status = 503
            else:
                status = 200
        if "huge" in q:
            self.send_huge(int(q["huge"]), q.get("chunked") == "1")
            return
        extra = {}
        if url.path == "/echo":
            body = reqbody
            extra = {"X-Echo-Method": self.command, "X-Echo-Length": str(len(reqbody))}
        self.answer(status, body, extra, date=q.get("date"))

    def read_chunked(self):
        out = b""
        while True:
            line = self.rfile.readline().strip()
            size = int(line.split(b";")[0], 16)
            if size == 0:
                self.rfile.readline()
                return out
            out += self.rfile.read(size)
            self.rfile.readline()

    def send_huge(self, n, chunked):
        self.send_response_only(200)
        self.send_header("Date", self.date_time_string())
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(n))
        self.end_headers()
        block = b"x" * 65536
        left = n
        try:
            while left > 0:
                k = min(left, len(block))
                if chunked:
                    self.wfile.write(b"%x\r\n" % k + block[:k] + b"\r\n")
                else:
                    self.wfile.write(block[:k])
                left -= k
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True


def make_tls(srv, folder):
    import ssl
    import subprocess
    cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    if len(sys.argv) > 2 and sys.argv[1] == "--tls":
        make_tls(srv, sys.argv[2])
    print("PORT %d" % srv.server_address[1], flush=True)

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except OSError:
            pass
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
