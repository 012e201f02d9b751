"""The daemon with engine: {driver: rekognition, project: P, status_poll: 1s} against the aws-twin's
Rekognition (tests/servers/aws-twin/routes/rekognition.js, every request signature-checked with
@smithy/signature-v4), the store local (its name, "local", is the bucket of the S3 objects the
engine names; the twin does not read images).

1. Ten labeled images: a training whose version gets F1 0.5 is not deployed (FAILED_F1; the
   twin never saw a start of it).
2. Ten more: the next version (F1 0.95) is started and becomes the active model.
3. Ten more: the third version is started, and the second is stopped only once the third is
   RUNNING (blue/green, read from the twin's start/stop events).
4. Images dropped into images_for_detection/ are detected by DetectCustomLabels on their S3
   objects with MinConfidence 0, the labels the twin was told to answer per key; throttled
   calls (ThrottlingException, ProvisionedThroughputExceededException) slow detection down and
   no detection fails.
5. engine.idle_stop: the idle version is stopped and started again for new images, all of
   them detected once, none failed; the active model's running hours (status --json and text,
   /metrics) match the twin's time in RUNNING, stand still while it is stopped, and survive a
   restart.
Skips (77) when node/npm or the twin's npm packages are unavailable.
"""
import hashlib
import os
import re
import subprocess
import time

from rtlib import SYNTH, Env, check, step_output
from metricslib import TOKEN, base_url, get
from twinlib import Twin

AK, SK = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


twin = Twin()
PORT, BASE = twin.port, twin.base
control = twin.control


def state():
    return control("rekognition/state")


def versions():
    return state()["projects"]["P"]["versions"]


control("rekognition/project", {"name": "P"})
control("rekognition/config", {"train_ms": 1500, "start_ms": 1500, "stop_ms": 800,
                               "f1_queue": [0.5, 0.95, 0.96],
                               "default_labels": [{"Name": "stripes", "Confidence": 91.0}]})

env = Env(poll="1s", min_untrained=10, min_f1=0.8)
cfg = env.config().replace("store: { driver: local, root: bucket }",
                           "store: { driver: local, root: bucket, scan: 1s }")
cfg = cfg.replace("  defaults:\n", "  defaults:\n    Enable-A2I-Workflow: false\n"
                  "    Minimum-Label-Detection-Confidence: 70\n"
                  "    Minimum-Inference-Units: 2\n")
cfg += ("engine: { driver: rekognition, project: P, status_poll: 1s, max_inference_units: 4 }\n"
        "aws: { region: us-east-1, max_attempts: 3, endpoints: { rekognition: %s } }\n"
        "detection: { concurrency: 4, results_flush: 1s }\n" % BASE)
env.set_config(cfg)
DAEMON_ENV = {"AWS_ACCESS_KEY_ID": AK, "AWS_SECRET_ACCESS_KEY": SK, "AWS_EC2_METADATA_DISABLED": "true"}
for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION",
          "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_REKOGNITION"):
    os.environ.pop(k, None)


def trainings():
    return env.history("--workflow", "training")


try:
    env.start(env=DAEMON_ENV)

    # 1. A low F1 is not deployed.
    env.add_images_bulk(["stripes", "circles"], 5, start=0)
    env.wait_exec(lambda e: e["state"] == "FAILED_F1", 120, "the low-F1 version to be refused")
    vs = versions()
    check(len(vs) == 1, "versions after the first training: %r" % list(vs))
    v1 = list(vs)[0]
    check(vs[v1]["status"] == "TRAINING_COMPLETED" and vs[v1]["starts"] == 0,
          "the low-F1 version was started: %r" % vs[v1])
    check(vs[v1]["manifest"]["Bucket"] == "local", "manifest bucket %r" % vs[v1]["manifest"])
    check(vs[v1]["output"]["S3KeyPrefix"].startswith("evaluation/"),
          "output prefix %r" % vs[v1]["output"])

    # 2. The next version is deployed.
    env.add_images_bulk(["stripes", "circles"], 5, start=100)
    env.wait_exec(lambda e: e["state"] == "DONE", 120, "the second version to be deployed")
    vs = versions()
    v2 = [n for n in vs if n != v1]
    check(len(v2) == 1, "versions: %r" % list(vs))
    v2 = v2[0]
    check(vs[v2]["status"] == "RUNNING", "second version %r" % vs[v2])
    check(vs[v2]["min_units"] == 2 and vs[v2]["max_units"] == 4, "units %r" % vs[v2])

    # 3. Blue/green: the second version stops only once the third runs.
    env.add_images_bulk(["stripes", "circles"], 5, start=200)
    env.wait_for(lambda: len([e for e in trainings() if e["state"] == "DONE"]) == 2, 120,
                 "the third version to be deployed")
    vs = versions()
    v3 = [n for n in vs if n not in (v1, v2)]
    check(len(v3) == 1, "versions: %r" % list(vs))
    v3 = v3[0]
    env.wait_for(lambda: versions()[v2]["status"] == "STOPPED", 30, "the old version to stop")
    check(versions()[v3]["status"] == "RUNNING", "third version %r" % versions()[v3])
    ev = state()["events"]
    stops = [e for e in ev if e["op"] == "stop" and e["version"] == v2]
    check(len(stops) == 1, "stops of the old version: %r" % stops)
    check(v3 in stops[0]["others_running"],
          "the old version was stopped before the new one ran: %r" % ev)
    check(not [e for e in ev if e["op"] == "stop" and e["version"] == v3], "the new one stopped")
    creates = state()["counts"].get("CreateProjectVersion", 0)
    check(creates == 3, "%d CreateProjectVersion calls for 3 trainings" % creates)
    check(state()["counts"].get("DescribeProjects", 0) == 1, "the project name was resolved "
          "more than once: %r" % state()["counts"])

    # 4. Detection on the S3 objects, with throttling on the way.
    drop_dir = os.path.join(env.bucket, "images_for_detection")
    os.makedirs(drop_dir, exist_ok=True)
    stage = os.path.join(env.dir, "det")
    subprocess.run([SYNTH, "--labels", "stripes,circles", "--count", "6", "--size", "64",
                    "--dir", stage], check=True, timeout=120)
    names = []
    for label in ("stripes", "circles"):
        for n in sorted(os.listdir(os.path.join(stage, label))):
            names.append("images_for_detection/%s-%s" % (label, n))
    unsure = names[-1]
    control("rekognition/config", {"labels": {unsure: [
        {"Name": "circles", "Confidence": 41.5}, {"Name": "stripes", "Confidence": 58.5}]}})
    # Four calls in flight x three attempts each: every first call ends RT_ETHROTTLED.
    control("rekognition/config", {"throttle_detect": 12})
    control("faults", [{"throttle": True}, {"throttle": True}])
    for label in ("stripes", "circles"):
        for n in sorted(os.listdir(os.path.join(stage, label))):
            os.rename(os.path.join(stage, label, n), os.path.join(drop_dir, "%s-%s" % (label, n)))

    def detections():
        return env.history("--workflow", "detection", "--limit", "1000")

    env.wait_for(lambda: len([e for e in detections()
                              if e["state"] in ("ACCEPTED", "FAILED")]) >= 12, 120,
                 "12 detections")
    ds = detections()
    failed = [e for e in ds if e["state"] == "FAILED"]
    check(not failed, "detections failed: %r" % failed[:2])
    check(len(ds) == 12, "%d detections for 12 images" % len(ds))
    reqs = [r["input"] for r in state()["requests"] if r["op"] == "DetectCustomLabels"]
    keys = {r["Image"]["S3Object"]["Name"] for r in reqs}
    check(keys == set(names), "detected keys %r" % sorted(keys))
    check(all(r["Image"]["S3Object"]["Bucket"] == "local" and r["MinConfidence"] == 0
              and v3 in r["ProjectVersionArn"] for r in reqs), "detect requests %r" % reqs[:2])
    got = []
    for e in ds:
        out = step_output(env.json("history", e["id"]), "DETECT") or {}
        got.append((out.get("label"), out.get("confidence")))
    check(got.count(("stripes", 58.5)) == 1, "the unsure image's answer not seen: %r" % got)
    check(got.count(("stripes", 91.0)) == 11, "labels %r" % got)
    check(env.log_count(r"event=detection_throttled") >= 1, "no detection waited for throttling")
    check(env.log_count(r"event=detect_slowdown") >= 1, "detection did not slow down")
    env.stop()

    # The active version's running hours (status --json), journaled: the version still runs
    # at the twin while the daemon is down, and that time counts (it is billed).
    def hours():
        am = env.status()["active_model"]
        check(am["version"] == v3 and "running_hours" in am, "active model %r" % am)
        return am["running_hours"] * 3600000.0, am["running"]

    def twin_ms():
        return versions()[v3]["running_ms"]

    ms0, running = hours()
    check(running and ms0 > 0, "running hours after the deploy: %r %r" % (ms0, running))
    check(abs(ms0 - twin_ms()) < 3000, "running %d ms, the twin says %d" % (ms0, twin_ms()))

    # 5. engine.idle_stop: the idle version is stopped, and started again for new images, whose
    # detections wait for it (none fails); it stays the active version. Running hours advance
    # only while it runs (status, /metrics), and survive a restart.
    env.set_config(env.config().replace("max_inference_units: 4 }",
                                        "max_inference_units: 4, idle_stop: 3s }")
                   + "http:\n  listen: 127.0.0.1:0\n  tokens:\n    - { name: it, role: admin, "
                   "token_sha256: %s }\n" % hashlib.sha256(TOKEN.encode()).hexdigest())
    env.start(env=DAEMON_ENV)
    base = base_url(env)
    env.wait_log(r"event=model_idle_stop version=\"?%s" % v3, 30, "the idle stop")
    env.wait_for(lambda: versions()[v3]["status"] == "STOPPED", 30, "the idle version to stop")
    check(versions()[v3]["stops"] == 1, "stops %r" % versions()[v3])
    env.wait_for(lambda: not hours()[1], 10, "status to say the version is stopped")
    ms1, _ = hours()
    check(abs(ms1 - twin_ms()) < 3000, "running %d ms at the idle stop, the twin says %d"
          % (ms1, twin_ms()))

    def metric(name):
        code, text = get(base, "/metrics")
        check(code == 200, "/metrics: %d" % code)
        m = re.search(r"^%s ([0-9.e+-]+)$" % name, text, re.M)
        check(m, "no %s in /metrics" % name)
        return float(m.group(1))

    time.sleep(2.5)
    ms2, _ = hours()
    check(ms2 == ms1, "running hours advanced while stopped: %r -> %r" % (ms1, ms2))
    check(metric("retraind_active_model_running") == 0, "/metrics says running")
    check(abs(metric("retraind_active_model_running_hours") * 3600000.0 - ms1) < 10,
          "/metrics running hours differ from status")
    subprocess.run([SYNTH, "--labels", "stripes,circles", "--count", "3", "--start", "50",
                    "--size", "64", "--dir", stage], check=True, timeout=120)
    for label in ("stripes", "circles"):
        for n in sorted(os.listdir(os.path.join(stage, label))):
            os.rename(os.path.join(stage, label, n), os.path.join(drop_dir, "again-%s-%s" % (label, n)))
    env.wait_log(r"event=model_start_on_demand", 30, "the version to be started for new images")
    env.wait_for(lambda: len([e for e in detections()
                              if e["state"] in ("ACCEPTED", "FAILED")]) >= 18, 120,
                 "18 detections")
    ds = detections()
    check(not [e for e in ds if e["state"] == "FAILED"], "detections failed after the restart")
    check(len(ds) == 18, "%d detections for 18 images" % len(ds))
    check(versions()[v3]["starts"] == 2 and versions()[v3]["status"] == "RUNNING",
          "the idle version was not started again: %r" % versions()[v3])
    check(env.log_count(r"event=model_resumed") == 1, "model_resumed not logged once")
    ms3, running = hours()
    check(running and ms3 > ms1, "running hours after the restart: %r -> %r" % (ms1, ms3))
    check(abs(ms3 - twin_ms()) < 3000, "running %d ms, the twin says %d" % (ms3, twin_ms()))
    check(metric("retraind_active_model_running") == 1, "/metrics says stopped")
    env.stop()
    # A daemon restart keeps the sum (the version still runs: it keeps growing).
    ms4, running = hours()
    check(running and ms4 >= ms3, "running hours after the daemon stopped: %r -> %r" % (ms3, ms4))
    text = env.cli("status").stdout
    check(re.search(r"running hours: \d+\.\d{3}  \(time in RUNNING; running now\)", text),
          "status text without the running hours:\n" + text)
finally:
    twin.close()
print("ok")
