"""Taking over a reference-solution deployment (issue #9: "a deployment of the reference carries
over"), against the Node aws-twin (SSM built in, routes/rekognition.js):

The twin holds what the reference solution left behind: a Rekognition project with a RUNNING
version it trained, and in Parameter Store its parameters and For-System-Use-Only
(previous_trained_images 20, rekognition_project_version_arn, keys retraind does not know). The
store already holds those 20 labeled images. retraind starts on a fresh journal with
`parameters: {driver: ssm}` and `engine: {driver: rekognition}`:

1. It takes over: the reference's version is the active model, previous_trained_images is 20,
   so the check finds 0 new images and nothing is trained again; For-System-Use-Only is
   unchanged (no 0 written over the count, the ARN kept as an ARN).
2. Six new images (Minimum-Untrained-Images 5 in SSM): one training, deployed blue/green (the
   reference's version is stopped once the new one runs); For-System-Use-Only then holds 26 and
   the new version's ARN, with the unknown keys kept.
3. A restart does not take over again: the journal is the source of truth from now on.
Skips (77) when node/npm or the twin's npm packages are unavailable.
"""
import json
import os

from rtlib import Env, check
from twinlib import Twin

PATH = "/ref-stack/a1b2c3/"
OLD = "20231001120000000"  # the reference names versions by local time, %Y%m%d%H%M%S%f

twin = Twin()
control = twin.control
for k in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SSM",
          "AWS_ENDPOINT_URL_REKOGNITION", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(k, None)
os.environ.update({"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
                   "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                   "AWS_EC2_METADATA_DISABLED": "true",
                   "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"})

# ---- what the reference solution left behind ----
project_arn = control("rekognition/project", {"name": "ref-project"})["arn"]
old_arn = control("rekognition/version", {"project": "ref-project", "name": OLD,
                                          "status": "RUNNING", "f1": 0.91})["arn"]
control("rekognition/config", {"train_ms": 800, "start_ms": 800, "stop_ms": 500,
                               "f1_queue": [0.95]})
SYSTEM = {"s3_bucket": "local", "sns-topic": "arn:aws:sns:us-east-1:123456789012:ref",
          "state_machine_arn": "arn:aws:states:us-east-1:123456789012:stateMachine:ref",
          "previous_trained_images": 20, "rekognition_project_arn": project_arn,
          "rekognition_project_version_arn": old_arn,
          "dynamodb_table": "ref-table"}
for name, value in (("Minimum-Untrained-Images", "5"), ("Minimum-F1-Score", "0.8"),
                    ("For-System-Use-Only", json.dumps(SYSTEM))):
    code, body = twin.ssm("PutParameter", {"Name": PATH + name, "Type": "String", "Value": value,
                                           "Overwrite": True})
    check(code == 200, "seeding %s: %d %r" % (name, code, body))


def system_state():
    code, body = twin.ssm("GetParameter", {"Name": PATH + "For-System-Use-Only"})
    check(code == 200, "GetParameter For-System-Use-Only: %d %r" % (code, body))
    return json.loads(body["Parameter"]["Value"])


def versions():
    return control("rekognition/state")["projects"]["ref-project"]["versions"]


env = Env(poll="1s", min_untrained=10)
cfg = env.config().replace("  driver: local\n", "  driver: ssm\n  path: %s\n  refresh: 1s\n" % PATH,
                           1)
cfg += ("engine: { driver: rekognition, project: ref-project, status_poll: 1s }\n"
        "aws: { region: us-east-1, endpoints: { ssm: %s, rekognition: %s } }\n"
        % (twin.base, twin.base))
env.set_config(cfg)
env.add_images_bulk(["stripes", "circles"], 10, start=0)

try:
    # 1. The takeover: nothing trained again, nothing overwritten.
    env.start()
    env.wait_log(r"event=takeover previous_trained_images=20 active=\"?%s" % OLD, 30,
                 "the takeover")
    first = env.wait_exec(lambda e: e["state"] == "NOT_MET", 60, "a check with nothing new")
    check(first["steps"][0]["output"]["untrained"] == 0,
          "the reference's images counted as new: %r" % first["steps"][0]["output"])
    st = env.status()
    check(st["previous_trained_images"] == 20, "previous_trained_images %r"
          % st["previous_trained_images"])
    check(st["active_model"] and st["active_model"]["version"] == OLD,
          "active model %r" % st["active_model"])
    check(env.history("--workflow", "training", "--limit", "100") and
          all(e["state"] == "NOT_MET" for e in env.history("--workflow", "training")),
          "a training ran on the reference's images")
    env.wait_for(lambda: system_state() == SYSTEM, 10, "For-System-Use-Only as it was")
    check(list(versions()) == [OLD] and versions()[OLD]["stops"] == 0,
          "the reference's version was touched: %r" % versions())

    # 2. Six new images: one training, blue/green, the state mirrored.
    env.add_images_bulk(["stripes", "circles"], 3, start=100)
    done = env.wait_exec(lambda e: e["state"] == "DONE", 120, "the training of the new images")
    vs = versions()
    new = [v for v in vs if v != OLD]
    check(len(new) == 1, "versions %r" % list(vs))
    env.wait_for(lambda: versions()[OLD]["stops"] == 1, 30, "the reference's version stopped")
    env.wait_for(lambda: system_state().get("previous_trained_images") == 26, 30,
                 "previous_trained_images 26 in For-System-Use-Only")
    st_sys = system_state()
    check(st_sys.get("rekognition_project_version_arn") == vs[new[0]]["arn"],
          "the active version is not mirrored as its ARN: %r" % st_sys)
    for k in ("s3_bucket", "sns-topic", "state_machine_arn", "dynamodb_table",
              "rekognition_project_arn"):
        check(st_sys.get(k) == SYSTEM[k], "key %s lost or changed: %r" % (k, st_sys))
    env.stop()

    # 3. A restart keeps the journal's state and does not take over again.
    env.start()
    env.wait_for(lambda: env.status()["active_model"]["version"] == new[0], 30,
                 "the new version active after a restart")
    check(env.log_count(r"event=takeover ") == 1, "taken over again after a restart")
    check(system_state()["previous_trained_images"] == 26, "the count changed after a restart")
    env.stop()
    print("takeover: ok (%s -> %s, %s)" % (OLD, new[0], done["id"]))
finally:
    twin.close()
