"""The daemon with parameters in SSM Parameter Store and notifications over SNS, against the
Node aws-twin on loopback (tests/servers/aws-twin: SSM built in, routes/sns.js) (issue #9):

- `parameters: {driver: ssm, path: /retraind-test/}` and `notify: [{driver: log}, {driver: sns}]`;
- `params set` stores the value in SSM (the twin's log has the signed PutParameter, and
  `params --json` reads it back from SSM: the local journal is not used);
- a change made straight in SSM by another tool (a CLI with another data folder, so no daemon is
  poked) is noticed by the driver's own polling and applied without a restart: a parameter
  execution, and a parameter-change notification published to the twin's SNS topic;
- a training's notifications (criteria not met, then started / finished / deployed) arrive at
  SNS as well as in the log;
- the system state is mirrored into For-System-Use-Only, keeping keys retraind does not know.
Skips (77) when node/npm are missing or the twin's packages cannot be installed.
"""
import json
import os
import subprocess

from rtlib import Env, check
from twinlib import Twin

TOPIC = "arn:aws:sns:us-east-1:123456789012:retraind-test"


twin = Twin()
port, base = twin.port, twin.base


def control(path, body=None):
    """GET /__control/<path> without a body, POST with one."""
    return twin.control(path, body, method="GET" if body is None else "POST")


ssm_call = twin.ssm


def published():
    return control("sns/messages", {})


# The environment the daemon and the CLI sign with (the default chain's first source).
for k in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SSM",
          "AWS_ENDPOINT_URL_SNS", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(k, None)
os.environ.update({"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
                   "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                   "AWS_EC2_METADATA_DISABLED": "true",
                   "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"})

AWS = ("aws:\n  region: us-east-1\n  endpoints: { ssm: %s, sns: %s }\n" % (base, base))
env = Env(poll="10m", min_untrained=10, extra=AWS)
cfg = env.config()
cfg = cfg.replace("  driver: local\n", "  driver: ssm\n  path: /retraind-test/\n  refresh: 1s\n", 1)
cfg = cfg.replace("notify: [ { driver: log } ]",
                  "notify: [ { driver: log }, { driver: sns, topic_arn: %s } ]" % TOPIC)
env.set_config(cfg)
env.cli("check-config")

# a key retraind does not know, as the reference solution's stack would have left it
other = Env(poll="10m", extra=AWS)
other.set_config(cfg.replace("data_dir: data", "data_dir: other-data"))

status, _ = ssm_call("PutParameter", {"Name": "/retraind-test/For-System-Use-Only", "Type": "String",
                                      "Value": json.dumps({"s3_bucket": "b", "sns-topic": TOPIC,
                                                           "previous_trained_images": 0})})
check(status == 200, "seeding For-System-Use-Only: %d" % status)

env.start()
env.wait_for(lambda: any("not met" in (m.get("Subject") or "").lower() for m in published()), 30,
             "the criteria-not-met notification at SNS")

MIN = "Minimum-Untrained-Images"
r = env.cli("params", "set", MIN, "7")
check("no daemon answered" not in r.stdout, "the daemon was not poked: %r" % r.stdout)
log = control("log")
check(any(e.get("target") == "AmazonSSM.PutParameter" and e.get("signature_ok") for e in log),
      "no signed PutParameter reached the twin")
vals = env.json("params", "get", MIN)
check(str(vals) == "7" or "7" in json.dumps(vals), "params get --json does not show 7: %r" % vals)


def param_msgs(name, old, new):
    """Publishes announcing name old -> new (the subject says "NAME changed: OLD -> NEW")."""
    want = "%s changed: %s -> %s" % (name, old, new)
    return [m for m in published() if want in (m.get("Subject") or "")]


env.wait_for(lambda: param_msgs(MIN, "10", "7"), 30, "the SNS notification of the CLI's change")

# A change made straight in SSM (another data folder: nobody pokes the daemon)
r = subprocess.run([os.environ.get("RETRAIND_BIN", "build/retraind"), "params", "-c", other.cfg,
                    "set", MIN, "12"], capture_output=True, text=True, timeout=60)
check(r.returncode == 0, "the other CLI failed: %s %s" % (r.stdout, r.stderr))
env.wait_for(lambda: param_msgs(MIN, "7", "12"), 30, "the SNS notification of the SSM change")
env.wait_for(lambda: any(any((s.get("output") or {}).get("new") == "12" for s in e["steps"])
                         for e in env.history("--workflow", "parameter")), 30,
             "the parameter execution of the SSM change")
check("event=ready" in env.log() and env.log().count("event=ready") == 1, "the daemon restarted")

# A training: 12 images over the threshold of 12
env.cli("params", "set", MIN, "10")
env.add_images("stripes", 10)
env.add_images("circles", 10)
env.cli("trigger", "training")
env.wait_for(lambda: any("deployed" in (m.get("Subject") or "").lower() or
                         "deployed" in (m.get("Message") or "").lower()[:200]
                         for m in published()), 240, "the deployed notification at SNS")
subjects = [m.get("Subject") for m in published()]
check(all(m["TopicArn"] == TOPIC for m in published()), "a publish to another topic")
check(all(s is None or (len(s) < 100 and "\n" not in s) for s in subjects), "subjects %r" % subjects)
print("subjects:", subjects)


def system_state():
    status, body = ssm_call("GetParameter", {"Name": "/retraind-test/For-System-Use-Only"})
    return json.loads(body["Parameter"]["Value"]) if status == 200 else {}


env.wait_for(lambda: system_state().get("previous_trained_images") == 20, 30,
             "previous_trained_images mirrored into For-System-Use-Only")
st = system_state()
check(st.get("s3_bucket") == "b" and st.get("sns-topic") == TOPIC, "unknown keys lost: %r" % st)
check(str(st.get("rekognition_project_version_arn", "")).startswith("model-"),
      "active version not mirrored: %r" % st)
env.stop()
twin.close()
print("ssm sns: ok (%d publishes)" % len(subjects))
