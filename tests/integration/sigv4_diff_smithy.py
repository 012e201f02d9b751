#!/usr/bin/env python3
"""sigv4_diff_smithy.py - differential test of `retraind sign` against the AWS SDK's own signer.

Installs tests/sigv4-diff (@smithy/signature-v4 + @aws-crypto/sha256-js) with npm into
$RETRAIND_BUILD/sigv4-diff (once: an existing node_modules is reused), generates seeded random
requests, signs each with `retraind sign` and with smithy, and compares the Authorization
headers byte for byte. Skips (exit 77) when node/npm or the registry is not available.

What is generated: paths with spaces, unicode, '+', '%', '~', '=', repeated slashes and dot
segments; repeated and empty query keys, empty values, unicode keys; header values with leading,
trailing and repeated spaces and tabs, repeated headers, unsignable headers (user-agent,
x-amzn-trace-id); binary bodies; UNSIGNED-PAYLOAD; with and without a session token; S3 and
other services.

Making the comparison fair (how the SDK's clients drive smithy):
  - S3: the S3 client uses uriEscapePath=false (path signed as sent) and applyChecksum=true
    (x-amz-content-sha256 added and signed). It sends paths already encoded once (each byte
    outside A-Z a-z 0-9 - . _ ~ / as %XX), so the S3 cases use such wire paths - with '//', '.'
    and '..' segments kept, which is the S3 rule being checked.
  - Other services: uriEscapePath=true, applyChecksum=false; the wire path is arbitrary (raw
    spaces, raw UTF-8, '%' with or without hex after it) since both sides normalise and encode it.
  - smithy takes the query as a map of decoded values; the raw query we give `retraind sign`
    encodes the same values, each character randomly raw (when that is unambiguous) or %XX in
    upper or lower case, so the decoding side is exercised too.
  - smithy holds one value per header name, so repeated headers are handed to it joined with ','
    after trimming each (what an HTTP stack does when it folds them); `retraind sign` gets them
    as separate lines.
"""
import base64
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys

BIN = os.environ.get("RETRAIND_BIN", "retraind")
BUILD = os.environ.get("RETRAIND_BUILD", ".")
SRC = os.environ.get("RETRAIND_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
N_CASES = int(os.environ.get("SIGV4_DIFF_CASES", "600"))
SEED = int(os.environ.get("SIGV4_DIFF_SEED", "20150830"))

UNRESERVED = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def skip(why):
    print("SKIP:", why)
    sys.exit(77)


def install():
    d = os.path.join(BUILD, "sigv4-diff")
    os.makedirs(d, exist_ok=True)
    for f in ("package.json", "sign_smithy.js"):
        shutil.copy(os.path.join(SRC, "tests", "sigv4-diff", f), os.path.join(d, f))
    if os.path.isdir(os.path.join(d, "node_modules", "@smithy", "signature-v4")):
        return d
    if not shutil.which("npm") or not shutil.which("node"):
        skip("node/npm not installed")
    p = subprocess.run(["npm", "install", "--prefix", d, "--no-audit", "--no-fund"],
                       capture_output=True, text=True, timeout=400)
    if p.returncode != 0:
        skip("npm install failed (registry unreachable?): " + p.stderr[-400:])
    return d


def enc_byte(b, lower=False):
    s = "%%%02X" % b
    return s.lower() if lower else s


def s3_wire_path(rng, raw):
    # What an S3 client sends: every byte but unreserved and '/' encoded once, uppercase hex.
    return "".join(chr(b) if b in UNRESERVED or b == 0x2F else enc_byte(b)
                   for b in raw.encode())


def any_wire_path(rng, raw):
    # Non-S3: keep most characters raw, pre-encode some (both sides encode the result again).
    out = []
    for ch in raw:
        if ch not in "/" and rng.random() < 0.2:
            out.append("".join(enc_byte(b, rng.random() < 0.5) for b in ch.encode()))
        else:
            out.append(ch)
    return "".join(out)


SEG_CHARS = ["a", "b", "Z", "0", "-", "_", ".", "~", " ", "+", "%", "=", "é", "ሴ", "😀", "!",
             "(", "*", ",", ";", ":", "@", "$", "'"]


def gen_path(rng):
    segs = []
    for _ in range(rng.randint(0, 6)):
        r = rng.random()
        if r < 0.1:
            segs.append("")
        elif r < 0.2:
            segs.append(".")
        elif r < 0.3:
            segs.append("..")
        else:
            segs.append("".join(rng.choice(SEG_CHARS) for _ in range(rng.randint(1, 8))))
    p = "/" + "/".join(segs)
    if rng.random() < 0.3:
        p += "/"
    return p


Q_CHARS = ["a", "B", "z", "1", "-", "_", ".", "~", " ", "+", "%", "=", "&", "/", "?", ":",
           "é", "ሴ", "!", "*", "'", ",", "#", "[", "]"]


def gen_text(rng, lo, hi):
    return "".join(rng.choice(Q_CHARS) for _ in range(rng.randint(lo, hi)))


def wire_query_part(rng, text):
    out = []
    for ch in text:
        raw_ok = ch not in "%&=#+ " or (ch == "+" and rng.random() < 0.5)
        if raw_ok and ch not in "?#" and ord(ch) < 128 and rng.random() < 0.7:
            out.append(ch)
        else:
            out.append("".join(enc_byte(b, rng.random() < 0.3) for b in ch.encode()))
    return "".join(out)


def gen_query(rng):
    pairs = []
    for _ in range(rng.randint(0, 6)):
        r = rng.random()
        key = "" if r < 0.05 else (pairs[-1][0] if pairs and r < 0.3 else gen_text(rng, 1, 6))
        val = "" if rng.random() < 0.2 else gen_text(rng, 0, 8)
        pairs.append((key, val))
    rng.shuffle(pairs)
    smithy = {}
    for k, v in pairs:
        if k in smithy:
            smithy[k] = (smithy[k] if isinstance(smithy[k], list) else [smithy[k]]) + [v]
        else:
            smithy[k] = v
    wire = []
    for k, v in pairs:
        wk = wire_query_part(rng, k)
        if v == "" and rng.random() < 0.5 and k != "":
            wire.append(wk)  # "k" alone means an empty value
        else:
            wire.append(wk + "=" + wire_query_part(rng, v))
    return "&".join(wire), smithy


H_NAMES = ["X-Amz-Target", "Content-Type", "x-amz-meta-Note", "My-Header", "X-Custom-1",
           "content-md5", "If-Match", "User-Agent", "X-Amzn-Trace-Id", "x-amz-acl"]


def gen_value(rng):
    words = ["v", "Value", "a=b", "x;y", "\"q\"", "é", "1.0", "(c)", "a,b"]
    out = " " * rng.randint(0, 2)
    for i in range(rng.randint(1, 4)):
        if i:
            out += rng.choice([" ", "  ", "   ", "\t", " \t "])
        out += rng.choice(words)
    return out + rng.choice(["", " ", "  ", "\t"])


def gen_case(rng, i):
    s3 = rng.random() < 0.45
    service = "s3" if s3 else rng.choice(["service", "rekognition", "sagemaker", "execute-api"])
    raw_path = gen_path(rng)
    path = s3_wire_path(rng, raw_path) if s3 else any_wire_path(rng, raw_path)
    wire_query, smithy_query = gen_query(rng)
    host = rng.choice(["example.amazonaws.com", "s3.us-east-1.amazonaws.com", "127.0.0.1:9000"])
    lines = [("Host", host)]
    for _ in range(rng.randint(0, 5)):
        name = rng.choice(H_NAMES)
        # One spelling per name, so smithy's map and our lines describe the same request.
        name = next((n for n, _ in lines if n.lower() == name.lower()), name)
        lines.append((name, gen_value(rng)))
    body = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 0, 1, 13, 200, 1000])))
    if s3 and rng.random() < 0.2:
        lines.append(("x-amz-content-sha256", "UNSIGNED-PAYLOAD"))
    rng.shuffle(lines)
    headers = {}
    for n, v in lines:
        headers[n] = (headers[n] + "," + v.strip(" \t")) if n in headers else v.strip(" \t")
    t = rng.randint(946684800, 1893456000)
    token = "".join(rng.choice("ABCDEFabcdef0123456789/+=") for _ in range(rng.randint(20, 300))) \
        if rng.random() < 0.4 else ""
    secret = "".join(rng.choice("ABCDEFGHIJKabcdefghij0123456789/+") for _ in range(40))
    method = rng.choice(["GET", "PUT", "POST", "DELETE", "HEAD"])
    target = path + ("?" + wire_query if wire_query or rng.random() < 0.1 else "")
    crlf = rng.random() < 0.5
    eol = b"\r\n" if crlf else b"\n"
    raw = (method + " " + target + " HTTP/1.1").encode() + eol
    for n, v in lines:
        raw += (n + ":" + v).encode() + eol
    if body or rng.random() < 0.5:
        raw += eol + body
    ak = "AKID%06d" % i
    return {
        "raw_b64": base64.b64encode(raw).decode(),
        "method": method, "host": host, "path": path, "query": smithy_query,
        "headers": headers, "body_b64": base64.b64encode(body).decode(), "s3": s3,
        "access_key": ak, "secret_key": secret, "session_token": token,
        "region": rng.choice(["us-east-1", "eu-west-3", "ap-southeast-2"]),
        "service": service, "time_ms": t * 1000,
    }


def amz_date(ms):
    import datetime
    return datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc) \
        .strftime("%Y%m%dT%H%M%SZ")


def main():
    d = install()
    rng = random.Random(SEED)
    cases = [gen_case(rng, i) for i in range(N_CASES)]
    cases_file = os.path.join(d, "cases.json")
    with open(cases_file, "w") as f:
        json.dump(cases, f)
    p = subprocess.run(["node", os.path.join(d, "sign_smithy.js"), cases_file],
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        print("smithy signer failed:", p.stderr[-2000:])
        return 1
    want = json.loads(p.stdout)
    assert len(want) == len(cases)
    bad = 0
    kinds = {"s3": 0, "other": 0, "token": 0}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    for i, c in enumerate(cases):
        args = [BIN, "sign", "--region", c["region"], "--service", c["service"],
                "--time", amz_date(c["time_ms"]), "--access-key", c["access_key"],
                "--secret-key", c["secret_key"]]
        if c["session_token"]:
            args += ["--session-token", c["session_token"]]
        raw = base64.b64decode(c["raw_b64"])
        r = subprocess.run(args, input=raw, capture_output=True, env=env, timeout=30)
        got = None
        for line in r.stdout.split(b"\n"):
            if line.startswith(b"Authorization:"):
                got = line[len(b"Authorization:"):].strip().decode()
        if r.returncode != 0 or got != want[i]:
            bad += 1
            if bad <= 5:
                v = subprocess.run(args + ["--verbose"], input=raw, capture_output=True,
                                   env=env, timeout=30)
                print("MISMATCH case %d (exit %d)\n request: %r\n smithy: %s\n ours:   %s\n%s"
                      % (i, r.returncode, raw[:600], want[i], got,
                         v.stderr.decode(errors="replace")[:3000]))
        kinds["s3" if c["s3"] else "other"] += 1
        kinds["token"] += bool(c["session_token"])
    print("compared %d signatures (%d S3, %d other, %d with a session token, seed %d): "
          "%d mismatches" % (len(cases), kinds["s3"], kinds["other"], kinds["token"], SEED, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
