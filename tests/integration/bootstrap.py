"""`retraind bootstrap` (issue #9 item 7) against the Node aws-twin on loopback (every request's
signature checked with @smithy/signature-v4; S3 through s3rver; SSM built in; Rekognition,
SageMaker and SNS in routes/*.js), and on the embedded default:

1. AWS drivers (store s3, parameters ssm, engine rekognition, review a2i, notify sns) on an empty
   account: every store prefix gets a placeholder, the ten parameters their defaults, the
   project, the human task UI (crowd-image-classifier with the labels found in the bucket plus
   None of the Above) and the flow definition (workteam, role, output
   s3://<bucket>/a2i-human-loop-data/) are created, and For-System-Use-Only holds the bucket,
   the project, the flow definition and the topic. A second run creates nothing: every line
   says "exists", the twin saw no create call and no SSM value changed Version.
2. A deployment of the reference solution (the parameters with non-default values and a
   For-System-Use-Only with keys retraind does not know, the project and the flow definition
   already there): bootstrap changes none of its values (every SSM parameter keeps its Value and
   Version) and creates nothing.
3. A For-System-Use-Only that lacks some keys gains them; its other keys keep their values.
4. The embedded default: the prefix folders and the journal are created, then found.
Skips (77) when node/npm or the twin's npm packages are unavailable.
"""
import json
import os

import setuplib
from rtlib import Env, check
from twinlib import Twin

AK, SK = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
BUCKET = "rt-bootstrap"
TOPIC = "arn:aws:sns:us-east-1:123456789012:retraind-alerts"
WORKTEAM = "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/reviewers"
ROLE = "arn:aws:iam::123456789012:role/retraind-a2i"
PREFIXES = ["images_labeled_by_folder/", "images_for_detection/", "detection-results/",
            "manifests/", "evaluation/", "a2i-human-loop-data/", "unlabeled/"]
NAMES = ["Enable-Automatic-Training", "Automatic-Training-Poll-Frequency",
         "Minimum-Untrained-Images", "Minimum-F1-Score", "Minimum-Inference-Units",
         "Minimum-Label-Detection-Confidence", "Enable-A2I-Workflow",
         "Enable-Automatic-Human-Sampling", "Automatic-Human-Sampling-Frequency",
         "Human-Sampling-Interval"]

for k in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE",
          "AWS_SESSION_TOKEN"):
    os.environ.pop(k, None)
os.environ.update({"AWS_ACCESS_KEY_ID": AK, "AWS_SECRET_ACCESS_KEY": SK,
                   "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/nonexistent",
                   "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                   # s3rver makes ListObjectsV2 continuation tokens with DES
                   "NODE_OPTIONS": "--openssl-legacy-provider"})

twin = Twin("--s3rver", "--bucket", BUCKET)
control = twin.control


def s3_put(key, data=b"x"):
    setuplib.s3_put(twin, BUCKET, key, data)


def aws_config(env, path="/retraind-test/", project="rt-project", flow="rt-flow-definition"):
    cfg = env.config()
    cfg = cfg.replace("store: { driver: local, root: bucket }",
                      "store: { driver: s3, bucket: %s }" % BUCKET)
    cfg = cfg.replace("  driver: local\n", "  driver: ssm\n  path: %s\n" % path, 1)
    cfg = cfg.replace("notify: [ { driver: log } ]",
                      "notify: [ { driver: log }, { driver: sns, topic_arn: %s } ]" % TOPIC)
    cfg += ("engine: { driver: rekognition, project: %s }\n"
            "review: { driver: a2i, flow_definition: %s, workteam_arn: %s, role_arn: %s }\n"
            "aws:\n  region: us-east-1\n  endpoints: { s3: %s, ssm: %s, sns: %s, "
            "rekognition: %s, sagemaker: %s }\n"
            % (project, flow, WORKTEAM, ROLE, twin.base, twin.base, twin.base, twin.base,
               twin.base))
    env.set_config(cfg)


def bootstrap(env, *args, rc=0):
    r = env.cli("bootstrap", *args, check_rc=rc)
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    for ln in lines:
        check(ln.startswith("created ") or ln.startswith("exists  "), "odd line %r" % ln)
    return lines, r


def creates(verb_lines, what):
    return [ln for ln in verb_lines if ln.startswith("created") and what in ln]


def ssm():
    return control("setup/ssm")


def s3_writes():
    return [e for e in control("log", method="GET")
            if e.get("route") == "s3" and e.get("method") in ("PUT", "DELETE")]


try:
    # ---- 1. an empty account, twice ----
    for label in ("cat", "dog"):
        s3_put("images_labeled_by_folder/%s/%s-1.png" % (label, label))
    env = Env(min_untrained=12)
    aws_config(env)
    env.cli("check-config")
    lines, r = bootstrap(env)
    out = "\n".join(lines)

    for p in PREFIXES[1:]:
        check(creates(lines, "s3://%s/%s" % (BUCKET, p)), "no placeholder %s:\n%s" % (p, out))
    check(not creates(lines, "images_labeled_by_folder/"),
          "a placeholder was made in a prefix that holds keys:\n" + out)
    for n in NAMES:
        check(creates(lines, "/retraind-test/" + n), "parameter %s not created:\n%s" % (n, out))
    check(creates(lines, "rekognition project rt-project"), "project:\n" + out)
    check(creates(lines, "human task UI rt-task-ui"), "task UI:\n" + out)
    check(creates(lines, "flow definition rt-flow-definition"), "flow definition:\n" + out)
    check(creates(lines, "/retraind-test/For-System-Use-Only"), "system parameter:\n" + out)

    params = ssm()
    check(params["/retraind-test/Minimum-Untrained-Images"]["Value"] == "12",
          "the config's default was not the value written: %r" % params)
    check(params["/retraind-test/Enable-Automatic-Training"]["Value"] == "true", repr(params))
    system = json.loads(params["/retraind-test/For-System-Use-Only"]["Value"])
    project_arn = control("rekognition/state")["projects"]["rt-project"]["arn"]
    st = control("setup/state")
    flow = st["flows"]["rt-flow-definition"]
    check(system.get("s3_bucket") == BUCKET and system.get("rekognition_project_arn") == project_arn
          and system.get("flow_definition_arn") == flow["arn"] and system.get("sns-topic") == TOPIC
          and system.get("previous_trained_images") == 0, "For-System-Use-Only %r" % system)
    check(flow["workteam"] == WORKTEAM and flow["role"] == ROLE
          and flow["output"] == "s3://%s/a2i-human-loop-data/" % BUCKET
          and flow["ui"] == st["uis"]["rt-task-ui"]["arn"] and flow["task_count"] == 1,
          "flow definition %r" % flow)
    ui = st["uis"]["rt-task-ui"]
    check(ui["categories"] == ["cat", "dog", "None of the Above"], "categories %r" % ui["categories"])
    check('name="crowd-image-classifier"' in ui["content"]
          and "task.input.taskObject | grant_read_access" in ui["content"], ui["content"])

    # the second run: everything exists, nothing is written
    before, writes_before = ssm(), len(s3_writes())
    counts_before = dict(st["counts"])
    rek_before = dict(control("rekognition/state")["counts"])
    lines, r = bootstrap(env)
    check(not [ln for ln in lines if ln.startswith("created")],
          "the second run created something:\n" + "\n".join(lines))
    check(len(lines) == len(PREFIXES) + len(NAMES) + 3, "lines of the second run:\n"
          + "\n".join(lines))
    check(ssm() == before, "the second run changed SSM:\n%r\n%r" % (before, ssm()))
    check(len(s3_writes()) == writes_before, "the second run wrote to S3")
    st = control("setup/state")
    for op in ("CreateHumanTaskUi", "CreateFlowDefinition"):
        check(st["counts"].get(op, 0) == counts_before.get(op, 0) == 1, "%s: %r" % (op, st["counts"]))
    check(control("rekognition/state")["counts"].get("CreateProject", 0)
          == rek_before.get("CreateProject", 0) == 1, "CreateProject twice")

    # ---- 2. a deployment of the reference solution ----
    ref = "/ref-stack/abc123/"
    values = {"Enable-Automatic-Training": "false", "Automatic-Training-Poll-Frequency": "60",
              "Minimum-Untrained-Images": "25", "Minimum-F1-Score": "0.9",
              "Minimum-Inference-Units": "2", "Minimum-Label-Detection-Confidence": "80.5",
              "Enable-A2I-Workflow": "false", "Enable-Automatic-Human-Sampling": "false",
              "Automatic-Human-Sampling-Frequency": "1440", "Human-Sampling-Interval": "50"}
    for n, v in values.items():
        control("setup/ssm_put", {"Name": ref + n, "Value": v})
    ref_project = control("rekognition/project", {"name": "ref-project"})["arn"]
    ref_flow = control("a2i/flow", {"name": "ref-flow-definition",
                                    "output": "s3://%s/a2i-human-loop-data/" % BUCKET})["arn"]
    ref_system = {"s3_bucket": BUCKET, "events_scheduled_rule": "ref-events",
                  "sampling_scheduled_rule": "ref-sampling", "rekognition_project_arn": ref_project,
                  "sns-topic": "arn:aws:sns:us-east-1:123456789012:ref-topic",
                  "state_machine_arn": "arn:aws:states:us-east-1:123456789012:stateMachine:ref",
                  "previous_trained_images": 137, "a2i_workflow": "ref", "dynamodb_table": "ref-t",
                  "dynamodb_table_GSI": "Sampled_GSI", "flow_definition_arn": ref_flow,
                  "rekognition_project_version_arn": ref_project + "/version/v1/1"}
    control("setup/ssm_put", {"Name": ref + "For-System-Use-Only", "Value": json.dumps(ref_system)})
    ref_env = Env()
    aws_config(ref_env, path=ref, project="ref-project", flow="ref-flow-definition")
    before = {k: v for k, v in ssm().items() if k.startswith(ref)}
    counts_before = dict(control("setup/state")["counts"])
    lines, r = bootstrap(ref_env)
    after = {k: v for k, v in ssm().items() if k.startswith(ref)}
    check(after == before, "bootstrap changed the reference deployment:\n%r\n%r" % (before, after))
    check(not [ln for ln in lines if ln.startswith("created")],
          "created in the reference deployment:\n" + "\n".join(lines))
    check(json.loads(after[ref + "For-System-Use-Only"]["Value"]) == ref_system, "system state")
    check([ln for ln in lines if "flow definition ref-flow-definition" in ln and ref_flow in ln],
          "\n".join(lines))
    check(control("setup/state")["counts"] == counts_before, "SageMaker creates were called")

    # ---- 3. a For-System-Use-Only that lacks keys gains them, keeping the rest ----
    part = {"s3_bucket": "other-bucket", "dynamodb_table": "kept"}
    control("setup/ssm_put", {"Name": ref + "For-System-Use-Only", "Value": json.dumps(part)})
    lines, r = bootstrap(ref_env)
    system = json.loads(ssm()[ref + "For-System-Use-Only"]["Value"])
    check(system["s3_bucket"] == "other-bucket" and system["dynamodb_table"] == "kept",
          "existing keys changed: %r" % system)
    check(system.get("rekognition_project_arn") == ref_project
          and system.get("flow_definition_arn") == ref_flow and system.get("sns-topic") == TOPIC,
          "missing keys not added: %r" % system)
    check([ln for ln in lines if ln.startswith("created keys") and "s3_bucket" not in ln],
          "\n".join(lines))

    # ---- 4. --labels, and refusals: a flow definition with no workteam configured ----
    env3 = Env()
    aws_config(env3, path="/third/", project="rt-project", flow="third-flow-definition")
    env3.set_config(env3.config().replace("workteam_arn: %s, " % WORKTEAM, ""))
    lines, r = bootstrap(env3, rc=1)
    check("review.workteam_arn" in r.stderr, "no reason given: %r" % r.stderr)
    env3.set_config(env3.config().replace("review: { driver: a2i, ",
                                          "review: { driver: a2i, workteam_arn: %s, " % WORKTEAM))
    lines, r = bootstrap(env3, "--labels", "zebra, lion,zebra")
    check(control("setup/state")["uis"]["third-task-ui"]["categories"]
          == ["lion", "zebra", "None of the Above"], repr(control("setup/state")["uis"]))
    check(creates(lines, "flow definition third-flow-definition"), "\n".join(lines))
finally:
    twin.close()

# ---- 5. the embedded default ----
env = Env()
os.rmdir(os.path.join(env.bucket, "images_labeled_by_folder"))
lines, r = bootstrap(env)
for p in PREFIXES:
    check(creates(lines, "folder " + os.path.join(env.bucket, p)), "%s:\n%s" % (p, r.stdout))
    check(os.path.isdir(os.path.join(env.bucket, p)), p)
check(creates(lines, "journal"), r.stdout)
check(os.path.isfile(os.path.join(env.data, "journal.db")), "no journal")
lines, r = bootstrap(env)
check(not [ln for ln in lines if ln.startswith("created")], "second run:\n" + r.stdout)
check(env.json("params", "list")["Minimum-Untrained-Images"] == 10, "a default was frozen")
print("bootstrap: ok")
