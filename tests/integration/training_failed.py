"""A training the engine rejects (all images under one label: nothing to tell apart) ends
FAILED with the engine's reason, tells people (workflow.failed), deploys nothing and records
last_attempted_images, so the following checks do not train the same images again; images
of a second label then lead to a training that is deployed."""
from rtlib import Env, check, step_output

env = Env(poll="2s", min_untrained=10)
env.add_images("stripes", 10)
env.start()
failed = env.wait_exec(lambda e: e["state"] in ("FAILED", "FAILED_F1", "DONE"), 120,
                       "the training ends")
check(failed["state"] == "FAILED", "ended %s (%s)" % (failed["state"], failed["error"]))
check("label" in failed["error"], "the reason does not say why: %r" % failed["error"])
check(failed["steps"][-2]["state"] == "WAIT_TRAINING", "failed in %r" % failed["steps"][-2])
check("event=workflow.failed exec=%s" % failed["id"] in env.log(), "no failure notification")
st = env.status()
check(st["active_model"] is None, "deployed %r" % st["active_model"])
check(st["last_attempted_images"] == 10 and st["previous_trained_images"] == 0,
      "counters %r/%r" % (st["last_attempted_images"], st["previous_trained_images"]))

later = env.wait_exec(lambda e: e["state"] == "NOT_MET" and e["started_at"] > failed["started_at"],
                      30, "a later check")
check(step_output(later, "CHECK")["last_attempted"] == 10, "later CHECK %r" % step_output(later, "CHECK"))

env.add_images("circles", 10)
done = env.wait_exec(lambda e: e["state"] == "DONE", 120, "a training with two labels")
check(step_output(done, "MANIFEST")["images"] == 20, "manifest %r" % step_output(done, "MANIFEST"))
env.stop()
print("training failed: ok (%s)" % failed["error"])
