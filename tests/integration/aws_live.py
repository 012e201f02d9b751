#!/usr/bin/env python3
"""aws_live.py - runs the AWS client's live cases (tests/unit/test_aws_live.c) against the Node
twin and s3rver on 127.0.0.1.

Installs tests/servers/aws-twin's npm packages (@smithy/signature-v4, @aws-crypto/sha256-js,
s3rver) into $RETRAIND_BUILD/aws-twin once (an existing node_modules is reused), then runs every
case of $RETRAIND_BUILD/tests/test_aws_live in its own process; each case starts and stops its
own twin. Skips (exit 77) when node/npm or the registry is unavailable or the binary was not
built. Exits 1 when any case fails.
"""
import fcntl
import os
import shutil
import subprocess
import sys

BUILD = os.environ.get("RETRAIND_BUILD", ".")
SRC = os.environ.get("RETRAIND_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))


def skip(why):
    print("SKIP:", why)
    sys.exit(77)


def install():
    d = os.path.join(BUILD, "aws-twin")
    os.makedirs(d, exist_ok=True)
    # The same lock as test_creds_twin.c and creds_sign.py: ctest runs them in parallel, and two
    # npm installs into one folder at once break each other.
    with open(os.path.join(d, ".install-lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        mods = os.path.join(d, "node_modules")
        if all(os.path.isdir(os.path.join(mods, m)) for m in
               ("@smithy/signature-v4", "@aws-crypto/sha256-js", "s3rver")):
            return d
        if not shutil.which("npm") or not shutil.which("node"):
            skip("node/npm not installed")
        shutil.copy(os.path.join(SRC, "tests", "servers", "aws-twin", "package.json"),
                    os.path.join(d, "package.json"))
        p = subprocess.run(["npm", "install", "--prefix", d, "--no-audit", "--no-fund"],
                           capture_output=True, text=True, timeout=400)
        if p.returncode != 0:
            skip("npm install failed (registry unreachable?): " + p.stderr[-400:])
    return d


def main():
    exe = os.path.join(BUILD, "tests", "test_aws_live")
    if not os.path.exists(exe):
        skip("tests/test_aws_live not built")
    d = install()
    cases = subprocess.run([exe, "--list"], capture_output=True, text=True,
                           check=True).stdout.split()
    if not cases:
        print("no cases listed")
        return 1
    env = dict(os.environ, AWS_TWIN_DIR=d)
    for k in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
              "AWS_ENDPOINT_URL_SSM"):
        env.pop(k, None)
    passed, failed = 0, []
    for c in cases:
        p = subprocess.run([exe, c], capture_output=True, text=True, env=env, timeout=120)
        if p.returncode == 0:
            passed += 1
            print("ok  ", c)
        else:
            failed.append(c)
            print("FAIL", c, "(exit %d)" % p.returncode)
            sys.stdout.write(p.stdout[-3000:])
            sys.stdout.write(p.stderr[-3000:])
    print("%d passed, %d failed" % (passed, len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
