#!/usr/bin/env python3
"""sigv4_sign_suite.py - `retraind sign` against the AWS SigV4 conformance suite, plus its
command-line contract (exit codes, credential sources, secrets kept out of the output).

For every case of ../shared/sigv4-suite/v4 it runs the binary on request.txt with the case's
context and compares the Authorization line (and the whole signed request) with
header-signed-request.txt, and with --presign the request line with query-signed-request.txt.
Without the suite folder that part is skipped (exit 77 when nothing else could run either).
"""
import json
import os
import atexit
import shutil
import subprocess
import sys
import tempfile

BIN = os.environ.get("RETRAIND_BIN", "retraind")
SHARED = os.environ.get("RETRAIND_SHARED", "")
SUITE = os.environ.get("RT_SIGV4_SUITE") or os.path.join(SHARED, "sigv4-suite", "v4")

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


EMPTY_HOME = tempfile.mkdtemp(prefix="rt-sign-home-")
atexit.register(shutil.rmtree, EMPTY_HOME, True)


def run(args, stdin=b"", env=None):
    # Nothing from this machine's AWS setup, no ~/.aws, and never the real IMDS address: the
    # credential chain must stay on this machine.
    e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    e["HOME"] = EMPTY_HOME
    e["AWS_EC2_METADATA_DISABLED"] = "true"
    if env:
        e.update(env)
    p = subprocess.run([BIN, "sign"] + args, input=stdin, capture_output=True, env=e,
                       timeout=30)
    return p.returncode, p.stdout, p.stderr


def case_args(ctx):
    c = ctx["credentials"]
    ts = ctx["timestamp"].replace("-", "").replace(":", "")
    args = ["--region", ctx["region"], "--service", ctx["service"], "--time", ts,
            "--access-key", c["access_key_id"], "--secret-key", c["secret_access_key"]]
    if "token" in c:
        args += ["--session-token", c["token"]]
    if not ctx.get("normalize", True):
        args.append("--no-normalize")
    if ctx.get("sign_body"):
        # The README: these cases have path "/", so S3's path rules change nothing and --s3
        # contributes exactly the x-amz-content-sha256 header they expect.
        args.append("--s3")
    return args


def auth_line(text):
    for line in text.split(b"\n"):
        if line.lower().startswith(b"authorization:"):
            return line.rstrip(b"\r")
    return None


def check_suite():
    if not os.path.isdir(SUITE):
        print("SKIP: SigV4 suite not found at", SUITE)
        return 0
    n = 0
    for name in sorted(os.listdir(SUITE)):
        d = os.path.join(SUITE, name)
        with open(os.path.join(d, "context.json")) as f:
            ctx = json.load(f)
        if ctx.get("omit_session_token"):
            print("skip %s: a token sent but left unsigned is not a `sign` option" % name)
            continue
        with open(os.path.join(d, "request.txt"), "rb") as f:
            request = f.read()
        with open(os.path.join(d, "header-signed-request.txt"), "rb") as f:
            want = f.read()
        rc, out, err = run(case_args(ctx), request)
        if rc != 0:
            fail("%s: exit %d: %s" % (name, rc, err.decode(errors="replace")))
            continue
        if auth_line(out) != auth_line(want):
            fail("%s: Authorization differs\n got:  %r\n want: %r" % (name, auth_line(out),
                                                                      auth_line(want)))
        elif out != want:
            fail("%s: signed request differs\n got:\n%r\n want:\n%r" % (name, out, want))
        # Presigned: the request line carries the X-Amz-* parameters.
        with open(os.path.join(d, "query-signed-request.txt"), "rb") as f:
            qwant = f.read().split(b"\n", 1)[0]
        args = [a for a in case_args(ctx) if a != "--s3"]
        rc, out, err = run(args + ["--presign", str(ctx.get("expiration_in_seconds", 3600))],
                           request)
        if rc != 0 or out.split(b"\n", 1)[0] != qwant:
            fail("%s: presigned request line differs (exit %d)\n got:  %r\n want: %r"
                 % (name, rc, out.split(b"\n", 1)[0], qwant))
        n += 1
    print("suite: %d cases signed through the binary" % n)
    return n


def check_contract():
    req = b"GET /a HTTP/1.1\r\nHost: example.amazonaws.com\r\nUser-Agent: x\r\n\r\n"
    base = ["--region", "us-east-1", "--service", "svc", "--time", "20150830T123600Z"]
    keys = ["--access-key", "AKIDEXAMPLE", "--secret-key", SECRET]

    # CRLF in, CRLF out; "Name: value" style kept; user-agent never signed.
    rc, out, err = run(base + keys + ["--verbose"], req)
    if rc != 0:
        fail("plain sign exit %d: %r" % (rc, err))
    if b"\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/svc/" \
            not in out or not out.endswith(b"\r\n\r\n"):
        fail("CRLF request not answered in CRLF / 'Name: value' style: %r" % out)
    if b"SignedHeaders=host;x-amz-date," not in out:
        fail("user-agent must not be signed: %r" % out)
    if b"---- canonical request" not in err or b"---- string to sign" not in err:
        fail("--verbose does not print both stages: %r" % err)

    # No piece of the secret reaches stdout or stderr; the token is redacted from --verbose.
    token = "FQoGZXIvYXdzEXAMPLETOKENvalue0123456789"
    rc, out, err = run(base + keys + ["--session-token", token, "--verbose"], req)
    for piece in (SECRET, SECRET[:12], SECRET[-12:]):
        if piece.encode() in out or piece.encode() in err:
            fail("a piece of the secret key was printed")
    if token.encode() in err:
        fail("--verbose printed the session token")
    if b"X-Amz-Security-Token: " + token.encode() not in out:
        fail("the token header is missing from the signed request")

    # Credentials from the environment; region from AWS_REGION / AWS_DEFAULT_REGION.
    env = {"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": SECRET,
           "AWS_DEFAULT_REGION": "eu-west-3"}
    rc, out, err = run(["--service", "svc", "--time", "20150830T123600Z"], req, env)
    if rc != 0 or b"Credential=AKIDENV/20150830/eu-west-3/svc/" not in out:
        fail("environment credentials/region not used (exit %d): %r %r" % (rc, out, err))
    env["AWS_REGION"] = "ap-south-1"
    rc, out, err = run(["--service", "svc"], req, env)
    if rc != 0 or b"/ap-south-1/svc/aws4_request" not in out:
        fail("AWS_REGION must win over AWS_DEFAULT_REGION: %r" % out)
    if b"X-Amz-Date:" not in out.replace(b": ", b":"):
        fail("no X-Amz-Date without --time")

    # Nothing found: exit 1 naming the sources tried.
    rc, out, err = run(base, req)
    if rc != 1 or b"no credentials" not in err or b"environment" not in err \
            or b"--access-key" not in err:
        fail("missing credentials: exit %d, %r" % (rc, err))

    # Usage errors exit 2.
    for args, why in ((["--service", "svc"] + keys, "no region"),
                      (["--region", "r"] + keys, "no service"),
                      (base[:4] + ["--time", "2015-08-30"] + keys, "bad time"),
                      (base + ["--access-key", "A"], "access key alone"),
                      (base + keys + ["--bogus"], "unknown option"),
                      (base + keys + ["--presign", "0"], "bad presign")):
        rc, out, err = run(args, req)
        if rc != 2:
            fail("%s: want exit 2, got %d (%r)" % (why, rc, err))
    rc, out, err = run(base + keys, b"this is not a request")
    if rc != 2:
        fail("a malformed request must exit 2, got %d" % rc)

    # S3: --service s3 alone brings the payload header; the body hash is what is signed.
    body = bytes(range(256))
    s3req = b"PUT /bucket/my key HTTP/1.1\nHost: s3.amazonaws.com\n\n" + body
    rc, out, err = run(["--region", "us-east-1", "--service", "s3"] + keys, s3req)
    import hashlib
    h = hashlib.sha256(body).hexdigest().encode()
    if rc != 0 or b"x-amz-content-sha256: " + h not in out or not out.endswith(body):
        fail("S3 signing lacks the payload hash header or lost the body: %r" % out[:400])
    # An UNSIGNED-PAYLOAD header given by the caller is kept as the payload hash.
    rc, out, err = run(["--region", "us-east-1", "--service", "s3", "--verbose"] + keys,
                       b"GET /b/k HTTP/1.1\nHost: h\nx-amz-content-sha256: UNSIGNED-PAYLOAD\n")
    creq = err.split(b"---- canonical request\n", 1)[-1].split(b"\n---- string to sign", 1)[0]
    if rc != 0 or out.lower().count(b"\nx-amz-content-sha256:") != 1 \
            or not creq.endswith(b"\nUNSIGNED-PAYLOAD"):
        fail("UNSIGNED-PAYLOAD not honoured: %r %r" % (out, err))


def main():
    n = check_suite()
    check_contract()
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("ok (%d suite cases)" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
