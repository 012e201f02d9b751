"""`retraind doctor` (issue #9 item 10) against the Node aws-twin on loopback (signatures checked
with @smithy/signature-v4; S3 through s3rver; routes/setup.js denies actions on request) with
every AWS driver configured and an SMTP notifier pointing at a greeter this test runs:

1. After `retraind bootstrap`, every line is "ok", exit 0: the config, the credential source
   (the access key's tail, never the secret), the region and each endpoint, list and read under
   every store prefix and a marker written and deleted, GetParametersByPath, DescribeProjects,
   DescribeFlowDefinition, GetTopicAttributes, the SMTP greeting, the clock, the journal and
   the disk.
2. Each permission denied in turn (AccessDenied from the twin, as IAM answers): exit 1 and
   exactly one FAIL line, naming the action, with "-> fix: allow <action> ...".
3. The SMTP notifier on a port where nothing listens: that line fails, exit 1. No credentials
   anywhere: the credentials line fails, saying where credentials come from.
4. The twin's clock an hour ahead: the clock line fails (and every call still works: the client
   corrects the offset).
5. The embedded default: exit 0.
Skips (77) when node/npm or the twin's npm packages are unavailable.
"""
import os
import socket
import threading

from rtlib import Env, check
from setuplib import s3_put
from twinlib import Twin

AK, SK = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
BUCKET = "rt-doctor"
TOPIC = "arn:aws:sns:us-east-1:123456789012:retraind-alerts"
WORKTEAM = "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/reviewers"
ROLE = "arn:aws:iam::123456789012:role/retraind-a2i"
ACTIONS = ["s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject",
           "ssm:GetParametersByPath", "rekognition:DescribeProjects",
           "sagemaker:DescribeFlowDefinition", "sns:GetTopicAttributes"]

for k in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE",
          "AWS_SESSION_TOKEN"):
    os.environ.pop(k, None)
os.environ.update({"AWS_ACCESS_KEY_ID": AK, "AWS_SECRET_ACCESS_KEY": SK,
                   "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/nonexistent",
                   "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                   "NODE_OPTIONS": "--openssl-legacy-provider"})


def greeter():
    """A loopback SMTP server that greets, waits for QUIT and says goodbye."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            with c:
                c.sendall(b"220 doctor-test ESMTP ready\r\n")
                c.settimeout(5)
                try:
                    c.recv(100)
                    c.sendall(b"221 bye\r\n")
                except OSError:
                    pass
    threading.Thread(target=serve, daemon=True).start()
    return srv


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def doctor(env, rc):
    r = env.cli("doctor", check_rc=rc)
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    check(SK not in r.stdout + r.stderr and SK[:12] not in r.stdout + r.stderr,
          "a secret reached the output")
    return lines, r


smtp = greeter()
twin = Twin("--s3rver", "--bucket", BUCKET)
control = twin.control
try:
    env = Env()
    cfg = env.config()
    cfg = cfg.replace("store: { driver: local, root: bucket }",
                      "store: { driver: s3, bucket: %s }" % BUCKET)
    cfg = cfg.replace("  driver: local\n", "  driver: ssm\n  path: /doctor/\n", 1)
    cfg = cfg.replace("notify: [ { driver: log } ]",
                      "notify: [ { driver: log }, { driver: sns, topic_arn: %s },\n"
                      "          { driver: smtp, url: \"smtp://127.0.0.1:%d\", from: rt@example.org,"
                      " to: [ops@example.org] } ]" % (TOPIC, smtp.getsockname()[1]))
    cfg += ("engine: { driver: rekognition, project: rt-project }\n"
            "review: { driver: a2i, flow_definition: rt-flow-definition, workteam_arn: %s, "
            "role_arn: %s }\n"
            "aws:\n  region: us-east-1\n  endpoints: { s3: %s, ssm: %s, sns: %s, "
            "rekognition: %s, sagemaker: %s }\n"
            % (WORKTEAM, ROLE, twin.base, twin.base, twin.base, twin.base, twin.base))
    env.set_config(cfg)
    s3_put(twin, BUCKET, "images_labeled_by_folder/cat/cat-1.png", b"not really a png")
    env.cli("bootstrap", "--labels", "cat,dog")

    # 1. all well
    lines, r = doctor(env, 0)
    out = "\n".join(lines)
    check(all(ln.startswith("ok   ") for ln in lines), "not all ok:\n" + out)
    for want in ("ok   config ", "ok   credentials from environment (access key ...MPLE",
                 "ok   region us-east-1 (from the config's aws.region)",
                 "ok   endpoint s3 %s (configured)" % twin.base, "ok   endpoint ssm ",
                 "ok   endpoint rekognition ", "ok   endpoint sagemaker ", "ok   endpoint sns ",
                 "ok   s3:ListBucket + s3:GetObject images_labeled_by_folder/ (read "
                 "images_labeled_by_folder/cat/cat-1.png)",
                 "ok   s3:PutObject + s3:DeleteObject detection-results/retraind-doctor-",
                 "ok   ssm:GetParametersByPath /doctor/ (10 parameters",
                 "ok   rekognition:DescribeProjects rt-project (arn:aws:rekognition:",
                 "ok   sagemaker:DescribeFlowDefinition rt-flow-definition (Active, output s3://%s/"
                 % BUCKET, "ok   sns:GetTopicAttributes " + TOPIC,
                 "ok   smtp 127.0.0.1:%d answers \"220 doctor-test" % smtp.getsockname()[1],
                 "ok   clock: ", "ok   journal ", "ok   disk: "):
        check([ln for ln in lines if ln.startswith(want)], "no line %r in:\n%s" % (want, out))
    check(len([ln for ln in lines if ln.startswith("ok   s3:ListBucket")]) == 7,
          "one listing per prefix:\n" + out)

    # 2. each permission denied in turn
    for action in ACTIONS:
        control("setup/deny", {"actions": [action]})
        lines, r = doctor(env, 1)
        fails = [ln for ln in lines if ln.startswith("FAIL ")]
        # a listing refused fails under every prefix; the others fail once
        check(len(fails) == (7 if action == "s3:ListBucket" else 1),
              "%s denied: %d FAIL lines:\n%s" % (action, len(fails), r.stdout))
        for f in fails:
            check(f.startswith("FAIL " + action + " ") and ("-> fix: allow %s" % action) in f,
                  "%s denied: %r" % (action, f))
        check(control("setup/state")["denied"], "the twin denied nothing")
    control("setup/deny", {"actions": []})
    doctor(env, 0)

    # 3. SMTP on a port where nothing listens
    bad = env.config().replace("smtp://127.0.0.1:%d" % smtp.getsockname()[1],
                               "smtp://127.0.0.1:%d" % closed_port())
    env.set_config(bad)
    lines, r = doctor(env, 1)
    fails = [ln for ln in lines if ln.startswith("FAIL ")]
    check(len(fails) == 1 and fails[0].startswith("FAIL smtp 127.0.0.1:") and
          "-> fix: check notify[2].url" in fails[0], "smtp: %r" % fails)

    # no credentials anywhere: the credentials line fails and says where they come from
    env.set_config(cfg)
    keys = {k: os.environ.pop(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    lines, r = doctor(env, 1)
    os.environ.update(keys)
    fails = [ln for ln in lines if ln.startswith("FAIL ")]
    check(len(fails) == 1 and fails[0].startswith("FAIL credentials: ")
          and "-> fix: give retraind credentials: AWS_ACCESS_KEY_ID" in fails[0],
          "no credentials: %r\n%s" % (fails, r.stdout))

    # 4. the twin's clock an hour ahead
    env.set_config(cfg)
    control("faults", [{"skew_s": 3600}])
    lines, r = doctor(env, 1)
    fails = [ln for ln in lines if ln.startswith("FAIL ")]
    check(len(fails) == 1 and fails[0].startswith("FAIL clock: 3") and "behind" in fails[0]
          and "-> fix: synchronise the clock" in fails[0], "clock: %r\n%s" % (fails, r.stdout))
finally:
    twin.close()
    smtp.close()

# 5. the embedded default
env = Env()
lines, r = doctor(env, 0)
check(all(ln.startswith("ok   ") for ln in lines), r.stdout)
check(not [ln for ln in lines if "credentials" in ln], "credentials asked with no AWS driver")
print("doctor: ok")
