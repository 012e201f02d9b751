"""The daemon with `review: {driver: a2i, flow_definition: retraind-flow, poll: 1s}` against the
Node aws-twin (routes/a2i.js checks every signature with @smithy/signature-v4 and keeps human
loops), the builtin engine and the local store (issue #9, item 5).

1. The twin knows the flow definition retraind-flow (output s3://local/a2i-human-loop-data/) and
   writes the output JSON of a loop the test completes into the local store's folder, where A2I
   would write it in the bucket.
2. The first training deploys; images dropped at threshold 100 all go to review: one human loop
   each, named rt-de-..., with the reference solution's InputContent (source "A2I Workflow",
   detectLabelRequestId, detectedConfidenceLevel, detectedLabel, taskObject s3://local/<key>).
3. The portal's operations answer 503 naming A2I's worker portal.
4. The test completes the loops through the twin's control: stripes and circles with their true
   label, checks with None of the Above, except one checks loop it marks Failed: that detection
   execution ends FAILED with A2I's failure reason. Each labeled answer is copied to
   images_labeled_by_folder/<label>/humanLoopName-<loop>-<file> with the image's bytes; None of
   the Above copies nothing; every detection execution ends.

Skips (77) when node/npm or the twin's npm packages are unavailable.
"""
import json
import os
import subprocess
import sys
import time
import urllib.request

from aws_live import install
from browserlib import api
from looplib import base_url, copies, detections, drop, loop_env, train_first, true_label
from rtlib import check

FLOW = "retraind-flow"
AK = "AKIDEXAMPLE"
SK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SRC = os.environ.get("RETRAIND_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))

# ---- the twin ----
twin_dir = install()
twin = subprocess.Popen(["node", os.path.join(SRC, "tests", "servers", "aws-twin", "server.js")],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                        env=dict(os.environ, NODE_PATH=os.path.join(twin_dir, "node_modules")))
line = twin.stdout.readline()
check(line.startswith("PORT "), "aws-twin did not start: %r" % line)
TWIN = "http://127.0.0.1:%d" % int(line.split()[1])


def control(verb, args=None):
    req = urllib.request.Request(TWIN + "/__control/a2i/" + verb,
                                 data=json.dumps(args or {}).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read().decode())


env = loop_env(min_untrained=10, threshold=100)
cfg = env.config().replace("review:\n  driver: local\n",
                           "review:\n  driver: a2i\n  flow_definition: %s\n  poll: 1s\n" % FLOW)
# Both SageMaker hosts from the config: the control plane and the A2I runtime (aws.endpoints.a2i).
cfg += "aws:\n  region: us-east-1\n  endpoints: { sagemaker: %s, a2i: %s }\n" % (TWIN, TWIN)
env.set_config(cfg)
control("flow", {"name": FLOW, "output": "s3://local/a2i-human-loop-data/"})
control("config", {"output_dir": env.bucket})

env.start(env={"AWS_ACCESS_KEY_ID": AK, "AWS_SECRET_ACCESS_KEY": SK,
               "AWS_EC2_METADATA_DISABLED": "true", "AWS_PROFILE": "",
               "AWS_REGION": "us-east-1"})
base = base_url(env)
train_first(env)

# ---- 2. every detection to review: one human loop each ----
keys = drop(env, ["stripes", "circles", "checks"], 2, 500)


def loops():
    return {l["name"]: l for l in control("loops") if l["name"].startswith("rt-de-")}


got = env.wait_for(lambda: (lambda ls: ls if len(ls) == len(keys) else None)(loops()), 180,
                   "a human loop per dropped image")
by_key = {}
for name, l in got.items():
    inp = l["input"]
    check(l["flow"] == FLOW and l["status"] == "InProgress", "loop %s: %r" % (name, l))
    check(inp["source"] == "A2I Workflow", "loop %s source %r" % (name, inp))
    check(inp["taskObject"].startswith("s3://local/images_for_detection/"),
          "loop %s taskObject %r" % (name, inp))
    check(isinstance(inp["detectedConfidenceLevel"], (int, float))
          and inp["detectedLabel"] in ("stripes", "circles")
          and inp["detectLabelRequestId"], "loop %s input %r" % (name, inp))
    by_key[inp["taskObject"][len("s3://local/"):]] = name
check(sorted(by_key) == sorted(keys), "loops for %r, wanted %r" % (sorted(by_key), sorted(keys)))

# ---- 3. the portal is local-only ----
status, body = api(base, "/api/reviews/next")
check(status == 503 and "A2I" in json.dumps(body), "/api/reviews/next with a2i: %d %r"
      % (status, body))

# ---- 4. answers through the twin ----
want = []
failed_key = sorted(k for k in by_key if true_label(k) == "checks")[0]
failed_loop = by_key.pop(failed_key)
control("fail", {"name": failed_loop, "status": "Failed", "code": "Expired",
                 "reason": "the task expired"})
for k, name in sorted(by_key.items()):
    label = true_label(k) if true_label(k) in ("stripes", "circles") else "None of the Above"
    control("complete", {"name": name, "answers": [{"label": label, "worker": "ann"}]})
    if label != "None of the Above":
        want.append("%s/humanLoopName-%s-%s" % (label, name, os.path.basename(k)))
env.wait_for(lambda: copies(env) == sorted(want), 120, "the humanLoopName- copies")
with open(os.path.join(env.labeled_dir, want[0]), "rb") as f:
    copied = f.read()
orig = [k for k in keys if want[0].endswith("-" + os.path.basename(k))]
check(len(orig) == 1, "the copy %s names no dropped image" % want[0])
with open(os.path.join(env.bucket, orig[0]), "rb") as f:
    check(f.read() == copied, "the copy %s differs from %s" % (want[0], orig[0]))


env.wait_log(r"event=review_answered", 60, "every answer", count=len(by_key))


def failed_exec():
    for e in detections(env):
        if e["id"].lower() == failed_loop[len("rt-"):] and e["state"] == "FAILED":
            return e
    return None


# A Failed loop is never answered: its execution ends FAILED with A2I's reason.
e = env.wait_for(failed_exec, 60, "the execution of the Failed loop to end FAILED")
check("Failed: the task expired" in (e.get("error") or ""), "error of %s: %r" % (e["id"], e))
time.sleep(3)  # a late copy for None of the Above would show now
check(copies(env) == sorted(want), "copies after the answers: %r, wanted %r"
      % (copies(env), sorted(want)))
check(env.log_count(r"event=human_loop_started") == len(keys), "StartHumanLoop logged %d times"
      % env.log_count(r"event=human_loop_started"))
env.stop()
twin.stdin.close()
twin.wait(timeout=30)
print("ok: %d loops, %d copies" % (len(keys), len(want)))
sys.exit(0)
