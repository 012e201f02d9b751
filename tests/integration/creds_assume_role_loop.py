"""The daemon's AWS loop on credentials from an assume-role profile, with the credentials expiring
under it (issue #9 item 9), against the Node aws-twin (tests/servers/aws-twin: routes/sts.js for
a signed STS AssumeRole whose key sets the twin then accepts, routes/rekognition.js for the
engine; every request's signature checked with @smithy/signature-v4).

- aws.profile names `[profile twin-role]`: role_arn + source_profile = base (static keys in the
  shared credentials file), external_id and role_session_name; aws.endpoints.sts is the twin. No
  key in the environment: every AWS call signs with the assumed role's temporary keys.
- A training runs on the engine `rekognition` (CreateProjectVersion, DescribeProjectVersions
  polling, StartProjectVersion); while it trains, the twin revokes every key set it handed out
  (each later call with them answers ExpiredTokenException) and expires the next calls made with
  old credentials. Then images are detected (DetectCustomLabels) and the keys are revoked again.
- No step fails, nothing is retried at the workflow level, the daemon assumed the role again
  (more AssumeRole calls, each with the profile's ExternalId and session name), logged
  event=credentials_expired, and no secret reached its log.
Skips (77) when node/npm or the twin's npm packages are unavailable.
"""
import os
import subprocess

from rtlib import SYNTH, Env, check
from twinlib import Twin

AK, SK = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ROLE = "arn:aws:iam::123456789012:role/retraind-it"

twin = Twin()
BASE = twin.base
control = twin.control


def sts_counts():
    return control("sts/counts")


def rek_counts():
    return control("rekognition/state")["counts"]


control("rekognition/project", {"name": "P"})
control("rekognition/config", {"train_ms": 3000, "start_ms": 1000, "stop_ms": 500,
                               "f1_queue": [0.95, 0.96],
                               "default_labels": [{"Name": "stripes", "Confidence": 91.0}]})
control("sts/config", {"role_arn": ROLE, "external_id": "ext-it"})

env = Env(poll="1s", min_untrained=10, min_f1=0.8)
creds_file = os.path.join(env.dir, "aws-credentials")
config_file = os.path.join(env.dir, "aws-config")
with open(creds_file, "w") as f:
    f.write("[base]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (AK, SK))
with open(config_file, "w") as f:
    f.write("[profile twin-role]\nrole_arn = %s\nsource_profile = base\nexternal_id = ext-it\n"
            "role_session_name = retraind-it\nregion = us-east-1\n" % ROLE)

cfg = env.config().replace("store: { driver: local, root: bucket }",
                           "store: { driver: local, root: bucket, scan: 1s }")
cfg = cfg.replace("  defaults:\n", "  defaults:\n    Enable-A2I-Workflow: false\n"
                  "    Minimum-Label-Detection-Confidence: 70\n"
                  "    Minimum-Inference-Units: 1\n")
cfg += ("engine: { driver: rekognition, project: P, status_poll: 1s }\n"
        "aws: { region: us-east-1, profile: twin-role, max_attempts: 3,\n"
        "       endpoints: { rekognition: %s, sts: %s } }\n"
        "detection: { concurrency: 2, results_flush: 1s }\n" % (BASE, BASE))
env.set_config(cfg)
for k in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
          "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
          "AWS_ENDPOINT_URL_REKOGNITION", "AWS_ENDPOINT_URL_STS", "AWS_WEB_IDENTITY_TOKEN_FILE",
          "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
          "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
    os.environ.pop(k, None)
DAEMON_ENV = {"AWS_CONFIG_FILE": config_file, "AWS_SHARED_CREDENTIALS_FILE": creds_file,
              "AWS_EC2_METADATA_DISABLED": "true"}


def trainings():
    return env.history("--workflow", "training")


def detections():
    return env.history("--workflow", "detection", "--limit", "1000")


try:
    env.start(env=DAEMON_ENV)

    # 1. A training; the keys expire while the version trains (the daemon polls it every second).
    env.add_images_bulk(["stripes", "circles"], 5, start=0)
    env.wait_for(lambda: rek_counts().get("CreateProjectVersion", 0) >= 1, 60,
                 "CreateProjectVersion")
    before = sts_counts()
    check(before["assume_role"] >= 1, "no AssumeRole before the first call: %r" % before)
    control("sts/revoke")
    control("sts/expire", {"count": 2})
    env.wait_exec(lambda e: e["state"] == "DONE", 120, "the version to be deployed")
    mid = sts_counts()
    check(mid["expired_answers"] >= 1, "the twin never answered expired: %r" % mid)
    check(mid["assume_role"] > before["assume_role"], "the role was not assumed again: %r" % mid)

    # 2. Detection, with the keys revoked again first.
    control("sts/revoke")
    drop_dir = os.path.join(env.bucket, "images_for_detection")
    os.makedirs(drop_dir, exist_ok=True)
    stage = os.path.join(env.dir, "det")
    subprocess.run([SYNTH, "--labels", "stripes,circles", "--count", "3", "--size", "64",
                    "--dir", stage], check=True, timeout=120)
    n = 0
    for label in ("stripes", "circles"):
        for name in sorted(os.listdir(os.path.join(stage, label))):
            os.rename(os.path.join(stage, label, name),
                      os.path.join(drop_dir, "%s-%s" % (label, name)))
            n += 1
            if n == 3:
                control("sts/expire", {"count": 1})
    env.wait_for(lambda: len([e for e in detections()
                              if e["state"] in ("ACCEPTED", "FAILED")]) >= 6, 120,
                 "6 detections")
    end = sts_counts()

    # 3. Nothing failed, nothing was retried by the workflow, the role was assumed again.
    execs = trainings() + detections()
    failed = [e for e in execs if "FAIL" in e["state"]]
    check(not failed, "failed executions: %r" % failed[:2])
    for e in execs:
        full = env.json("history", e["id"])
        errs = [s for s in full.get("steps", []) if s.get("error")]
        check(not errs, "a step recorded an error: %r" % errs[:1])
    check(len(detections()) == 6, "%d detections for 6 images" % len(detections()))
    check(end["expired_answers"] > mid["expired_answers"], "no expiry during detection: %r" % end)
    check(end["assume_role"] > mid["assume_role"], "no AssumeRole after the second revoke: %r" % end)
    reqs = control("sts/requests")
    check(all(r["ExternalId"] == "ext-it" and r["RoleSessionName"] == "retraind-it" and
              r["RoleArn"] == ROLE and r["source_key"] == AK for r in reqs),
          "AssumeRole requests %r" % reqs[:2])
    log = env.log()
    check(env.log_count(r"event=credentials_expired") >= 2, "credentials_expired not logged")
    check("twin-secret-role" not in log and "EXAMPLEKEY" not in log, "a secret in the log")
    print("assume-role loop: %d AssumeRole, %d expired answers, %d executions" %
          (end["assume_role"], end["expired_answers"], len(execs)))
    env.stop()
finally:
    twin.close()
print("ok")
