"""What the bootstrap and doctor tests share: an object put into the twin's bucket as an
uploader would (signed by `retraind sign --s3`, sent with http.client)."""
import http.client
import subprocess

from rtlib import BIN, check


def s3_put(twin, bucket, key, data=b"x"):
    raw = (b"PUT /%s/%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n\r\n"
           % (bucket.encode(), key.encode(), twin.port, len(data)) + data)
    r = subprocess.run([BIN, "sign", "--region", "us-east-1", "--service", "s3", "--no-imds"],
                       input=raw, capture_output=True, timeout=30)
    check(r.returncode == 0, "retraind sign failed: %r" % r.stderr)
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = dict(ln.split(": ", 1) for ln in lines[1:])
    c = http.client.HTTPConnection("127.0.0.1", twin.port, timeout=10)
    c.request(method, path, body=body, headers=headers)
    reply = c.getresponse()
    check(reply.status == 200, "PUT %s: %d %r" % (key, reply.status, reply.read()[:300]))
    c.close()
