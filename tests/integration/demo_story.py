"""The demo story of issue #3 as an integration test (poll 2s):

5 images of label A -> criteria not met (5 of 10); 5 of label B -> a training starts, its F1 is
reported, the version is deployed, previous_trained_images = 10; 10 more -> a second training,
the new version takes over and the first is stopped.
"""
from rtlib import Env, check, states, step_output

env = Env(poll="2s", min_untrained=10)
env.start()

# 1. Five images of one label: the check runs and reports 5 of 10.
env.add_images("stripes", 5)
env.cli("trigger", "training")
e = env.wait_exec(lambda e: e["state"] == "NOT_MET" and
                  (step_output(e, "CHECK") or {}).get("images") == 5, 30, "NOT_MET with 5 images")
out = step_output(e, "CHECK")
check(out["untrained"] == 5 and out["needed"] == 10, "CHECK output %r" % out)
check(e["finished_at"] is not None and e["error"] is None, "NOT_MET execution %r" % e)
check("training.criteria_not_met" in env.log(), "no criteria-not-met notification in the log")

# 2. Five of another label: a training starts, is evaluated and deployed.
env.add_images("circles", 5)
first = env.wait_exec(lambda e: e["state"] == "DONE", 120, "first training DONE")
want = ["CHECK", "MANIFEST", "TRAIN", "WAIT_TRAINING", "EVALUATE", "START", "WAIT_RUNNING",
        "SWITCH", "STOP_OLD", "DONE"]
check(states(first) == want, "first training states %r" % states(first))
check(step_output(first, "MANIFEST")["images"] == 10, "manifest of the first training")
f1 = step_output(first, "EVALUATE")["f1"]
check(0.8 <= f1 <= 1.0, "first F1 %r" % f1)
# The engine's evaluation is published under evaluation/<execution>/ in the store.
import json, os
ev_path = os.path.join(env.bucket, "evaluation", first["id"], "evaluation.json")
env.wait_for(lambda: os.path.exists(ev_path), 10, "the evaluation in the store")
with open(ev_path) as f:
    evaluation = json.load(f)
check(abs(evaluation["f1"] - f1) < 1e-9, "evaluation f1 %r vs %r" % (evaluation.get("f1"), f1))
st = env.status()
check(st["previous_trained_images"] == 10, "previous_trained_images %r" % st["previous_trained_images"])
check(st["untrained_images"] == 0, "untrained %r" % st["untrained_images"])
check(st["labels"] == {"stripes": 5, "circles": 5}, "labels %r" % st["labels"])
v1 = st["active_model"]["version"]
check(st["active_model"]["images"] == 10 and abs(st["active_model"]["f1"] - f1) < 1e-9,
      "active model %r" % st["active_model"])
for ev in ("training.started", "training.finished", "training.deployed"):
    check(ev in env.log(), "no %s notification in the log" % ev)

# 3. Ten more: a second training; the new version takes over and the first is stopped.
env.add_images("stripes", 5, start=5)
env.add_images("circles", 5, start=5)
second = env.wait_exec(lambda e: e["state"] == "DONE" and e["id"] != first["id"], 120,
                       "second training DONE")
check(step_output(second, "MANIFEST")["images"] == 20, "manifest of the second training")
check(step_output(second, "SWITCH")["previous"] == v1, "SWITCH output %r" % step_output(second, "SWITCH"))
check(step_output(second, "STOP_OLD")["stopped"] == v1, "STOP_OLD output")
st = env.status()
check(st["active_model"]["version"] != v1, "the active version did not change")
check(st["previous_trained_images"] == 20, "previous_trained_images %r" % st["previous_trained_images"])
check(st["in_flight"] == [], "in flight %r" % st["in_flight"])

# The daemon keeps answering and stops cleanly.
env.stop()
print("demo story: ok (first F1 %.3f, versions %s -> %s)" % (f1, v1, st["active_model"]["version"]))
