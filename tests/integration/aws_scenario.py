"""The whole loop on every AWS driver at once, against the aws-twin (issue #9, "Must be shown by
tests", first two lines). aws_loop.py runs it as is; aws_loop_faults.py runs the same scenario
with a seeded 10% of the daemon's signed calls answered by throttling or a 5xx (the twin's
routes/chaos.js), and it must end in the same state.

The daemon: store s3 (the twin's s3rver, every request signature-checked), parameters ssm,
engine rekognition, review a2i, notify log + sns. The scenario:

1. Ten labeled images put into the bucket: one training, whose version (F1 0.5 by the twin's
   control) is not deployed (FAILED_F1, never started).
2. Ten more: one training, deployed (F1 0.95): the version is started and RUNNING.
3. Ten more: one training, deployed; the old version is stopped only once the new one RUNS
   (blue/green, from the twin's start/stop events). Three CreateProjectVersion, three training
   executions: one training per threshold crossing.
4. Seven images dropped into images_for_detection/: four answered with a confident label are
   ACCEPTED, three unsure ones go to A2I (one human loop each, taskObject s3://BUCKET/<key>);
   one result line per image in detection-results/.
5. The test answers the loops through the twin, which writes A2I's output JSON into the bucket:
   two labels are folded back as images_labeled_by_folder/<label>/humanLoopName-<loop>-<file>
   (the image's bytes), None of the Above copies nothing.
6. SNS recorded the notifications (started x3, finished x3, deployed x2, not deployed x1, review
   requested x3, review answered), and For-System-Use-Only mirrors previous_trained_images 30
   and the active version's ARN, keeping the reference solution's keys it does not know.
7. After a restart the active version's ARN (not its name) is mirrored again.

The end state (summary()) is compared with END_STATE in both runs. Skips (77) without node/npm,
the twin's packages or python3-boto3.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from rtlib import SYNTH, Env, check
from twinlib import Twin, skip

try:
    import boto3
    from botocore.config import Config
except ImportError:
    skip("python3-boto3 not installed")

AK, SK = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
BUCKET = "rt-loop"
PROJECT = "retraind-loop"
FLOW = "retraind-flow"
PATH = "/rt-loop/"
TOPIC = "arn:aws:sns:us-east-1:123456789012:retraind-loop"
SYSTEM = PATH + "For-System-Use-Only"

# The state both runs must end in (see summary()).
END_STATE = {
    "trainings": ["DONE", "DONE", "FAILED_F1"],
    "versions": [("RUNNING", 0.96, 1, 0), ("STOPPED", 0.95, 1, 1), ("TRAINING_COMPLETED", 0.5, 0, 0)],
    "create_project_version": 3,
    "detections": {"accepted": 4, "done": 2, "discard": 1, "failed": 0},
    "copies": 2,
    "result_lines": 7,
    "sns": {"Training started": 3, "Training finished": 3, "Deployed": 2, "Not deployed": 1,
            "Review requested": 3, "Review answered": 3},
    "system": {"previous_trained_images": 30, "active": "third version", "project": "the project",
               "kept": "b-ref"},
}


class Scenario:
    def __init__(self, fault_rate=0.0, seed=1):
        self.fault_rate = fault_rate
        self.seed = seed
        self.twin = Twin("--s3rver", "--bucket", BUCKET)
        self.base = self.twin.base
        # The test's own calls (boto3) retry hard and are never faulted (chaos: agent retraind).
        cfg = Config(s3={"addressing_style": "path"},
                     retries={"mode": "standard", "max_attempts": 10})
        kw = dict(endpoint_url=self.base, region_name="us-east-1", aws_access_key_id=AK,
                  aws_secret_access_key=SK, config=cfg)
        self.s3 = boto3.client("s3", **kw)
        self.ssm = boto3.client("ssm", **kw)
        self.stage = tempfile.mkdtemp(prefix="rt-aws-loop-")

    # ---- the twin ----
    def control(self, path, body=None):
        return self.twin.control(path, body or {})

    def versions(self):
        return self.control("rekognition/state")["projects"][PROJECT]["versions"]

    def published(self):
        return self.control("sns/messages")

    # ---- the bucket ----
    def put_images(self, prefix, labels, count, start, rename=None):
        """Synthetic images of labels uploaded under prefix; returns {key: bytes}."""
        d = tempfile.mkdtemp(dir=self.stage)
        subprocess.run([SYNTH, "--labels", ",".join(labels), "--count", str(count), "--start",
                        str(start), "--size", "64", "--dir", d], check=True, timeout=300)
        out = {}
        for label in labels:
            for name in sorted(os.listdir(os.path.join(d, label))):
                with open(os.path.join(d, label, name), "rb") as f:
                    data = f.read()
                key = prefix + (rename(label, name) if rename else "%s/%s" % (label, name))
                self.s3.put_object(Bucket=BUCKET, Key=key, Body=data, ContentType="image/png")
                out[key] = data
        return out

    def keys(self, prefix):
        out = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            out += [o["Key"] for o in page.get("Contents", [])]
        return out

    def get(self, key):
        return self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    def system_state(self):
        try:
            return json.loads(self.ssm.get_parameter(Name=SYSTEM)["Parameter"]["Value"])
        except self.ssm.exceptions.ParameterNotFound:
            return {}

    # ---- the daemon ----
    def make_env(self, scan="1s", flush="1s", poll="1s", concurrency=4, refresh="1s"):
        """The daemon's config (bench/bench_aws_calls.py and bench_detect_throttled.py choose
        the periods and the concurrency)."""
        env = Env(poll=poll, min_untrained=10, min_f1=0.8)
        env.set_config("""data_dir: data
store: { driver: s3, bucket: %(bucket)s, path_style: true, scan: %(scan)s }
parameters:
  driver: ssm
  path: %(path)s
  refresh: %(refresh)s
  defaults:
    Automatic-Training-Poll-Frequency: %(poll)s
    Minimum-Untrained-Images: 10
    Minimum-F1-Score: 0.8
    Enable-A2I-Workflow: true
    Minimum-Label-Detection-Confidence: 70
    Minimum-Inference-Units: 1
notify: [ { driver: log }, { driver: sns, topic_arn: %(topic)s } ]
log: { level: info }
engine: { driver: rekognition, project: %(project)s, status_poll: 1s }
review: { driver: a2i, flow_definition: %(flow)s, poll: 1s }
detection: { concurrency: %(concurrency)d, results_flush: %(flush)s }
aws:
  region: us-east-1
  max_attempts: 3
  endpoints: { s3: %(base)s, ssm: %(base)s, sns: %(base)s, rekognition: %(base)s, sagemaker: %(base)s }
""" % {"bucket": BUCKET, "path": PATH, "topic": TOPIC, "project": PROJECT, "flow": FLOW,
       "base": self.base, "scan": scan, "flush": flush, "poll": poll, "concurrency": concurrency,
       "refresh": refresh})
        return env

    def daemon_env(self):
        return {"AWS_ACCESS_KEY_ID": AK, "AWS_SECRET_ACCESS_KEY": SK,
                "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/nonexistent",
                "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                "AWS_ENDPOINT_URL_SAGEMAKER_A2I_RUNTIME": self.base}

    # ---- the run ----
    def setup(self):
        """The twin's project, versions' timing and F1s, flow definition, the reference
        solution's For-System-Use-Only, and the fault rate."""
        for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION",
                  "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SSM",
                  "AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL_REKOGNITION"):
            os.environ.pop(k, None)
        c = self.control
        c("rekognition/project", {"name": PROJECT})
        c("rekognition/config", {"train_ms": 1500, "start_ms": 1500, "stop_ms": 800,
                                 "f1_queue": [0.5, 0.95, 0.96],
                                 "default_labels": [{"Name": "stripes", "Confidence": 91.0}]})
        c("a2i/flow", {"name": FLOW, "output": "s3://%s/a2i-human-loop-data/" % BUCKET})
        c("a2i/config", {"output_s3": True})
        # A deployment of the reference solution left its own keys.
        self.ssm.put_parameter(Name=SYSTEM, Type="String",
                               Value=json.dumps({"s3_bucket": "b-ref", "sns-topic": TOPIC,
                                                 "previous_trained_images": 0}))
        c("chaos/config", {"rate": self.fault_rate, "seed": self.seed, "agent": "retraind/"})

    def run(self):
        self.setup()
        c = self.control

        env = self.env = self.make_env()
        env.start(env=self.daemon_env())
        tmo = 240 if self.fault_rate else 150

        def trainings():
            return env.history("--workflow", "training")

        # 1. A low F1 is not deployed.
        self.put_images("images_labeled_by_folder/", ["stripes", "circles"], 5, 0)
        env.wait_exec(lambda e: e["state"] == "FAILED_F1", tmo, "the low-F1 version to be refused")
        vs = self.versions()
        check(len(vs) == 1, "versions after the first training: %r" % list(vs))
        v1 = list(vs)[0]
        check(vs[v1]["starts"] == 0, "the low-F1 version was started: %r" % vs[v1])
        check(vs[v1]["manifest"]["Bucket"] == BUCKET, "manifest %r" % vs[v1]["manifest"])

        # 2. The next version is deployed.
        self.put_images("images_labeled_by_folder/", ["stripes", "circles"], 5, 100)
        env.wait_exec(lambda e: e["state"] == "DONE", tmo, "the second version to be deployed")
        vs = self.versions()
        v2 = [n for n in vs if n != v1]
        check(len(v2) == 1, "versions: %r" % list(vs))
        v2 = v2[0]
        check(vs[v2]["status"] == "RUNNING", "second version %r" % vs[v2])

        # 3. Blue/green.
        self.put_images("images_labeled_by_folder/", ["stripes", "circles"], 5, 200)
        env.wait_for(lambda: len([e for e in trainings() if e["state"] == "DONE"]) == 2, tmo,
                     "the third version to be deployed")
        vs = self.versions()
        v3 = [n for n in vs if n not in (v1, v2)]
        check(len(v3) == 1, "versions: %r" % list(vs))
        v3 = v3[0]
        env.wait_for(lambda: self.versions()[v2]["status"] == "STOPPED", 60, "the old version to stop")
        ev = self.control("rekognition/state")["events"]
        stops = [e for e in ev if e["op"] == "stop" and e["version"] == v2]
        check(len(stops) == 1 and v3 in stops[0]["others_running"],
              "the old version was not stopped once, after the new one ran: %r" % ev)
        self.v = (v1, v2, v3)

        # 4. Detection: seven images, three of them unsure (the first of each label, answered
        # below its true label by the twin) go to A2I; the other four are accepted.
        d = tempfile.mkdtemp(dir=self.stage)
        subprocess.run([SYNTH, "--labels", "stripes,circles,checks", "--count", "3", "--start",
                        "500", "--size", "64", "--dir", d], check=True, timeout=300)
        files = []
        for label, n in (("stripes", 3), ("circles", 2), ("checks", 2)):
            for name in sorted(os.listdir(os.path.join(d, label)))[:n]:
                files.append((label, name, "images_for_detection/%s-%s" % (label, name)))
        unsure = []
        for label in ("stripes", "circles", "checks"):
            unsure.append([(l, k) for l, _, k in files if l == label][0])
        c("rekognition/config", {"labels": {k: [{"Name": "circles", "Confidence": 41.5},
                                                {"Name": "stripes", "Confidence": 38.0}]
                                            for _, k in unsure}})
        images = {}
        for label, name, key in files:
            with open(os.path.join(d, label, name), "rb") as f:
                images[key] = f.read()
            self.s3.put_object(Bucket=BUCKET, Key=key, Body=images[key], ContentType="image/png")

        def detections():
            return env.history("--workflow", "detection", "--limit", "1000")

        def loops():
            return {l["name"]: l for l in self.control("a2i/loops") if l["name"].startswith("rt-")}

        env.wait_for(lambda: len(loops()) == 3 and len([e for e in detections()
                                                        if e["state"] == "ACCEPTED"]) == 4,
                     tmo, "four detections accepted and three human loops")
        by_key = {}
        for name, l in loops().items():
            task = l["input"]["taskObject"]
            check(task.startswith("s3://%s/images_for_detection/" % BUCKET),
                  "loop %s taskObject %r" % (name, task))
            by_key[task[len("s3://%s/" % BUCKET):]] = name
        check(sorted(by_key) == sorted(k for _, k in unsure),
              "loops for %r, wanted %r" % (sorted(by_key), sorted(k for _, k in unsure)))

        # 5. The answers: two labels and None of the Above.
        answers = {}
        want = []
        for i, (label, key) in enumerate(sorted(unsure, key=lambda t: t[1])):
            answer = "None of the Above" if label == "checks" else label
            answers[key] = answer
            self.control("a2i/complete", {"name": by_key[key],
                                          "answers": [{"label": answer, "worker": "ann"}]})
            if answer != "None of the Above":
                want.append("images_labeled_by_folder/%s/humanLoopName-%s-%s"
                            % (answer, by_key[key], key.split("/", 1)[1]))

        def copies():
            return sorted(k for k in self.keys("images_labeled_by_folder/")
                          if "/humanLoopName-" in k)

        env.wait_for(lambda: copies() == sorted(want), tmo, "the humanLoopName- copies")
        for k in want:
            orig = [key for key in images if k.endswith("-" + key.split("/", 1)[1])]
            check(len(orig) == 1 and self.get(k) == images[orig[0]],
                  "the copy %s is not the image's bytes" % k)
        env.wait_for(lambda: len([e for e in detections()
                                  if e["state"] in ("ACCEPTED", "DONE", "DISCARD", "FAILED")]) == 7,
                     tmo, "every detection execution to end")
        env.wait_for(lambda: len(self.result_lines()) >= 7, tmo, "the result lines")
        env.wait_for(lambda: self.sns_counts().get("Review answered", 0) >= 3, tmo,
                     "the review-answered notifications")
        env.wait_for(lambda: self.system_state().get("previous_trained_images") == 30, tmo,
                     "previous_trained_images mirrored")
        env.wait_for(lambda: self.system_state().get("rekognition_project_version_arn")
                     == self.versions()[v3]["arn"], tmo, "the active version's ARN mirrored")
        time.sleep(3)  # a late copy or a duplicate would show now
        self.want_copies = want

        # 7. After a restart the mirror names the active version by its ARN again (not by its
        # name, which is all the journal has until the engine was asked).
        env.stop()
        st = self.system_state()
        del st["rekognition_project_version_arn"]
        self.ssm.put_parameter(Name=SYSTEM, Type="String", Overwrite=True, Value=json.dumps(st))
        env.start(env=self.daemon_env())
        env.wait_for(lambda: "rekognition_project_version_arn" in self.system_state(), tmo,
                     "the active version mirrored after the restart")
        return self.summary()

    def result_lines(self):
        lines = []
        for k in self.keys("detection-results/"):
            for line in self.get(k).decode().splitlines():
                if line.strip():
                    lines.append(json.loads(line))
        return lines

    def sns_counts(self):
        out = {}
        for m in self.published():
            s = (m.get("Subject") or "").replace("[retraind] ", "")
            head = s.split(":")[0]
            out[head] = out.get(head, 0) + 1
        return out

    def summary(self):
        env = self.env
        v1, v2, v3 = self.v
        vs = self.versions()
        st = self.control("rekognition/state")
        ds = env.history("--workflow", "detection", "--limit", "1000")
        sysst = self.system_state()
        lines = self.result_lines()
        keys = [l["key"] for l in lines]
        check(len(keys) == len(set(keys)), "result lines written twice: %r" % keys)
        check(all(m["TopicArn"] == TOPIC for m in self.published()), "a publish to another topic")
        sns = {k: v for k, v in self.sns_counts().items() if k in END_STATE["sns"]}
        active = sysst.get("rekognition_project_version_arn")
        return {
            "trainings": sorted(e["state"] for e in env.history("--workflow", "training")
                                if e["state"] != "NOT_MET"),
            "versions": [(vs[v]["status"], vs[v]["f1"], vs[v]["starts"], vs[v]["stops"])
                         for v in (v3, v2, v1)],
            "create_project_version": st["counts"].get("CreateProjectVersion", 0),
            "detections": {s: len([e for e in ds if e["state"] == s.upper()])
                           for s in ("accepted", "done", "discard", "failed")},
            "copies": len(self.want_copies),
            "result_lines": len(lines),
            "sns": sns,
            "system": {"previous_trained_images": sysst.get("previous_trained_images"),
                       "active": "third version" if active == vs[v3]["arn"] else active,
                       "project": "the project" if sysst.get("rekognition_project_arn")
                       == st["projects"][PROJECT]["arn"] else sysst.get("rekognition_project_arn"),
                       "kept": sysst.get("s3_bucket")},
        }

    def close(self):
        try:
            if getattr(self, "env", None):
                self.env.stop()
        finally:
            self.twin.close()
            shutil.rmtree(self.stage, ignore_errors=True)


def main(fault_rate=0.0, seed=1):
    sc = Scenario(fault_rate, seed)
    try:
        got = sc.run()
        chaos = sc.control("chaos/counts")
        print("signed calls %d, faulted %d" % (chaos["signed"], chaos["faulted"]), flush=True)
        print("end state:", json.dumps(got, sort_keys=True), flush=True)
        for k, want in END_STATE.items():
            check(got[k] == want, "end state %s: %r, wanted %r" % (k, got[k], want))
        if fault_rate:
            share = chaos["faulted"] / max(1, chaos["signed"])
            check(abs(share - fault_rate) < fault_rate / 2,
                  "%.3f of the calls faulted, wanted about %.2f" % (share, fault_rate))
    finally:
        sc.close()
    print("ok")
    sys.exit(0)
