"""docs/aws.md's IAM policy grants every AWS operation retraind calls, and lists nothing retraind
does not call. The operations are read from the source: every `struct rt_aws_op` table entry
({&rt_aws_<service>, "<Operation>", ...}, also through a file's own OP(var, "Name") macro) under
src/. Each maps to an IAM action (S3's operations to their permission names); the policy is the
```json block of docs/aws.md. Fails naming the operation whose action is missing, or the action
no operation needs."""
import json
import os
import re
import sys

SRC = os.environ.get("RETRAIND_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))

# The IAM service prefix of each rt_aws_service id (A2I's runtime is authorised as sagemaker).
PREFIX = {"s3": "s3", "ssm": "ssm", "rekognition": "rekognition", "a2i": "sagemaker",
          "sagemaker": "sagemaker", "sns": "sns", "sqs": "sqs", "sts": "sts"}
# S3 operations are authorised by permission names that differ from the operation's.
S3 = {"ListObjectsV2": ["ListBucket"], "GetObject": ["GetObject"], "HeadObject": ["GetObject"],
      "PutObject": ["PutObject"], "DeleteObject": ["DeleteObject"],
      "CopyObject": ["GetObject", "PutObject"]}
# SQS's batch calls are authorised by the single call's permission.
SQS = {"DeleteMessageBatch": "DeleteMessage"}
# Calls made as another identity, not granted by the daemon's policy: STS AssumeRole is allowed
# on the role's side (its trust policy) and the source identity's sts:AssumeRole, which the page
# says in words.
NOT_IN_POLICY = {"sts:AssumeRole", "sts:AssumeRoleWithWebIdentity"}


def operations():
    ops = set()
    for root, _, files in os.walk(os.path.join(SRC, "src")):
        for name in files:
            if not name.endswith(".c"):
                continue
            text = open(os.path.join(root, name), encoding="utf-8").read()
            for svc, op in re.findall(r'\{\s*&rt_aws_(\w+)\s*,\s*"(\w+)"', text):
                ops.add((svc, op))
            macro = re.search(r'#define\s+(\w+)\(\s*\w+\s*,\s*\w+\s*\)[^\n]*\\\n[^\n]*&rt_aws_(\w+)',
                              text)
            if macro:
                for op in re.findall(r'\b%s\(\s*\w+\s*,\s*"(\w+)"\s*\)' % macro.group(1), text):
                    ops.add((macro.group(2), op))
    return ops


def main():
    ops = operations()
    if len(ops) < 10:
        print("FAIL: found only %d AWS operations in src/: the scan is broken" % len(ops))
        return 1
    page = open(os.path.join(SRC, "docs", "aws.md"), encoding="utf-8").read()
    block = re.search(r"```json\n(.*?)```", page, re.S)
    if not block:
        print("FAIL: docs/aws.md has no ```json policy block")
        return 1
    granted = set()
    for st in json.loads(block.group(1))["Statement"]:
        acts = st["Action"]
        granted.update([acts] if isinstance(acts, str) else acts)
    needed = {}
    for svc, op in sorted(ops):
        if svc not in PREFIX:
            print("FAIL: operation %s of service %r: no IAM prefix known here" % (op, svc))
            return 1
        for a in S3.get(op, [op]) if svc == "s3" else [SQS.get(op, op) if svc == "sqs" else op]:
            needed.setdefault("%s:%s" % (PREFIX[svc], a), []).append("%s %s" % (svc, op))
    bad = 0
    for action, users in sorted(needed.items()):
        if action not in granted and action not in NOT_IN_POLICY:
            print("FAIL: %s (for %s) is not in docs/aws.md's policy" % (action, ", ".join(users)))
            bad += 1
    extra = sorted(a for a in granted if a not in needed and a != "iam:PassRole")
    for action in extra:
        print("FAIL: the policy grants %s, which no operation in src/ needs" % action)
        bad += 1
    if bad:
        return 1
    print("iam policy: ok (%d operations, %d actions)" % (len(ops), len(needed)))
    return 0


sys.exit(main())
