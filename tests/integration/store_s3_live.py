#!/usr/bin/env python3
"""store_s3_live.py - runs the s3 store driver's cases (tests/unit/test_store_s3.c) against the
Node twin and s3rver on 127.0.0.1, each case in its own process with its own twin.

The npm packages are installed (once) by aws_live.install(), into $RETRAIND_BUILD/aws-twin.
Skips (77) without node/npm or the binary. Exits 1 when any case fails.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aws_live  # noqa: E402


def main():
    exe = os.path.join(aws_live.BUILD, "tests", "test_store_s3")
    if not os.path.exists(exe):
        aws_live.skip("tests/test_store_s3 not built")
    d = aws_live.install()
    cases = subprocess.run([exe, "--list"], capture_output=True, text=True,
                           check=True).stdout.split()
    only = sys.argv[1:]
    if only:
        cases = [c for c in cases if c in only]
    if not cases:
        print("no cases listed")
        return 1
    env = dict(os.environ, AWS_TWIN_DIR=d)
    for k in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        env.pop(k, None)
    failed = []
    for c in cases:
        p = subprocess.run([exe, c], capture_output=True, text=True, env=env, timeout=600)
        if p.returncode == 0:
            print("ok  ", c)
            sys.stdout.write(p.stderr[-600:])
        else:
            failed.append(c)
            print("FAIL", c, "(exit %d)" % p.returncode)
            sys.stdout.write(p.stdout[-3000:])
            sys.stdout.write(p.stderr[-3000:])
    print("%d passed, %d failed" % (len(cases) - len(failed), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
