#!/usr/bin/env python3
"""store_s3_training.py - the daemon on the embedded default but with the s3 store: a training
runs end to end against the Node twin + s3rver on 127.0.0.1.

Labeled images (names with spaces, '+' and unicode) are put into the bucket with boto3 through
the twin (which checks every signature). The daemon, configured with
`store: {driver: s3, bucket: B}` and the twin as aws.endpoints.s3, counts them, writes a manifest
into the bucket whose source-refs are s3://B/<key> with the keys raw, trains the builtin engine
by reading each image back with GetObject, and deploys the model. Skips (77) without node, the
npm packages or boto3.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aws_live  # noqa: E402
from rtlib import LABELS, Env, check, fail  # noqa: E402

try:
    import boto3
    from botocore.config import Config
except ImportError:
    aws_live.skip("python3-boto3 not installed")

BUCKET = "rt-s3-training"
AK, SK = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def start_twin(moddir):
    script = os.path.join(aws_live.SRC, "tests", "servers", "aws-twin", "server.js")
    env = dict(os.environ, NODE_PATH=os.path.join(moddir, "node_modules"))
    p = subprocess.Popen(["node", "--openssl-legacy-provider", script, "--s3rver", "--bucket",
                          BUCKET], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    line = p.stdout.readline().decode()
    if not line.startswith("PORT "):
        p.kill()
        fail("aws-twin did not start: %r" % line)
    return p, int(line.split()[1])


def main():
    moddir = aws_live.install()
    twin, port = start_twin(moddir)
    try:
        run(port)
    finally:
        twin.stdin.close()
        twin.terminate()
        twin.wait(timeout=30)
    print("store s3 training: ok")
    return 0


def run(port):
    endpoint = "http://127.0.0.1:%d" % port
    for k in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
              "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(k, None)
    # The daemon and the CLI find the keys in the environment (the default chain's first source).
    os.environ.update(AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK,
                      AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/nonexistent",
                      AWS_SHARED_CREDENTIALS_FILE="/nonexistent")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id=AK, aws_secret_access_key=SK,
                      config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

    env = Env(poll="2s", min_untrained=10)
    text = env.config().replace(
        "store: { driver: local, root: bucket }",
        "store: { driver: s3, bucket: %s, path_style: true }\n"
        "aws: { region: us-east-1, endpoints: { s3: \"%s\" } }" % (BUCKET, endpoint))
    check("driver: s3" in text, "config not rewritten")
    env.set_config(text)

    # Synthetic images made locally, then put into the bucket under hostile names.
    keys = []
    for label in LABELS[:2]:
        env.add_images(label, 6)
        folder = os.path.join(env.bucket, "images_labeled_by_folder", label)
        for i, name in enumerate(sorted(os.listdir(folder))):
            key = "images_labeled_by_folder/%s/img %d+ü=%s" % (label, i, name)
            with open(os.path.join(folder, name), "rb") as f:
                s3.put_object(Bucket=BUCKET, Key=key, Body=f.read(), ContentType="image/png")
            keys.append(key)
    s3.put_object(Bucket=BUCKET, Key="images_labeled_by_folder/notes.txt", Body=b"not an image")

    env.start()
    done = env.wait_exec(lambda e: e["state"] in ("DONE", "FAILED", "FAILED_F1"), 180,
                         "a training ends")
    check(done["state"] == "DONE", "training ended %s (%s)\n%s"
          % (done["state"], done.get("error"), env.log()[-3000:]))
    st = env.status()
    check(st["active_model"], "no model deployed: %r" % st)
    check(st["previous_trained_images"] == len(keys), "trained %r" % st["previous_trained_images"])

    # The manifest is in the bucket, and its source-refs are s3://BUCKET/<raw key>.
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="manifests/")
    mkeys = [o["Key"] for o in listed.get("Contents", [])]
    check(mkeys, "no manifest in the bucket")
    refs = set()
    for mk in mkeys:
        body = s3.get_object(Bucket=BUCKET, Key=mk)["Body"].read().decode()
        for line in body.splitlines():
            if line.strip():
                refs.add(json.loads(line)["source-ref"])
    want = {"s3://%s/%s" % (BUCKET, k) for k in keys}
    check(refs == want, "manifest refs differ:\nextra %r\nmissing %r"
          % (sorted(refs - want)[:5], sorted(want - refs)[:5]))
    env.stop()
    check("event=s3_open" in env.log(), "the daemon did not open the s3 store")


if __name__ == "__main__":
    sys.exit(main())
