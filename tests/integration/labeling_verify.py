"""A verification job finds the images in the wrong folder (issue #10, "Must be shown by tests":
10% deliberately wrong labels in a folder are found and moved; none of the correct ones move).

images_labeled_by_folder/cat/ and dog/ hold 50 images each under neutral names; 5 of each
folder belong to the other label (the test alone knows which). A job with --verify --prefix
images_labeled_by_folder/ --labels cat,dog (3 workers per image, --max-workers 3 since there
are only three workers; the default minimum confidence) is answered by three accurate workers
(0.97, 0.96, 0.95; with this seed no image gets a wrong majority, checked before the run).

- every task shows the image's current label first (options and detected_label);
- each wrong image is gone from its folder and present exactly once in the right one, under a
  name containing its file name, with the same bytes; every other file is untouched and nothing
  else appears;
- `label-job status --json`: kind verify, done, "moved" 10, "error_rate" 0.1 (+-0.03) for each
  folder;
- the execution went LIST, PREDICT, WAIT_ANSWERS, CONSOLIDATE, MOVE, DONE.
"""
import hashlib
import os
import random
import shutil
import time

from labeling_lib import (Crowd, Worker, base_url, collapse, create, job_execs, lj_env,
                          make_images, majority, status, wait_total)
from rtlib import check, states

SEED = 32
JOB = "verify-folders"
LABELS = ["cat", "dog"]
PREFIX = "images_labeled_by_folder/"

workers = [Worker("v97", 0.97), Worker("v96", 0.96), Worker("v95", 0.95)]
env = lj_env([w.name for w in workers])
staged = make_images(env, "staging/", [("cat", "stripes", 50), ("dog", "circles", 50)], SEED)
rng = random.Random("wrong:%s" % SEED)
wrong = set(rng.sample(sorted(k for k, v in staged.items() if v == "cat"), 5))
wrong |= set(rng.sample(sorted(k for k, v in staged.items() if v == "dog"), 5))
truth, folder_of = {}, {}
for k, label in staged.items():
    folder = ("dog" if label == "cat" else "cat") if k in wrong else label
    key = "%s%s/%s" % (PREFIX, folder, os.path.basename(k))
    os.makedirs(os.path.join(env.bucket, PREFIX, folder), exist_ok=True)
    os.rename(os.path.join(env.bucket, k), os.path.join(env.bucket, key))
    truth[key], folder_of[key] = label, folder
shutil.rmtree(os.path.join(env.bucket, "staging"))
wrong_keys = sorted(k for k in truth if truth[k] != folder_of[k])
check(len(wrong_keys) == 10 and sum(f == "cat" for f in folder_of.values()) == 50,
      "test setup: %d wrong" % len(wrong_keys))


def tree():
    """{path under images_labeled_by_folder/: sha256 of the bytes}."""
    out = {}
    root = os.path.join(env.bucket, PREFIX)
    for d, _, files in os.walk(root):
        for n in files:
            with open(os.path.join(d, n), "rb") as f:
                out[os.path.relpath(os.path.join(d, n), root)] = hashlib.sha256(
                    f.read()).hexdigest()
    return out


before = tree()
check(len(set(before.values())) == 100, "test setup: the 100 images are not all different")
# With these workers and this seed every image's majority is right (the answers depend only on
# the seed, the worker and the key, and all three workers answer every image).
for k in truth:
    votes = [(w.name, w.choose(SEED, k, truth[k], LABELS)) for w in workers]
    check(majority(votes) == truth[k], "test setup: seed %d gives %s a wrong majority %r"
          % (SEED, k, votes))

env.start()
t0 = time.time()
create(env, JOB, PREFIX, LABELS, "--verify", "--max-workers", "3")
wait_total(env, JOB, 100)
crowd = Crowd(base_url(env), JOB, workers, truth, LABELS, SEED)


def shows_current(w, task):
    current = folder_of[task["key"]]
    check(task.get("options", [None])[0] == current and sorted(task["options"]) == LABELS,
          "%s: options %r, the current label %r first wanted" % (task["key"],
                                                                task.get("options"), current))
    check(task.get("detected_label") == current, "%s: detected_label %r, wanted %r"
          % (task["key"], task.get("detected_label"), current))


crowd.run(on_task=shows_current)
st = crowd.drive(env, timeout=60)
print("verified in %.1fs: %r" % (time.time() - t0, {k: st.get(k) for k in
                                                      ("moved", "error_rate", "labeled")}),
      flush=True)

# ---- the moves ----
after = tree()
for k in truth:
    rel = k[len(PREFIX):]
    if k in wrong_keys:
        check(rel not in after, "the wrong image %s (truly %s) is still in %s/"
              % (rel, truth[k], folder_of[k]))
        found = [p for p, h in after.items() if h == before[rel]]
        check(len(found) == 1, "the wrong image %s is now at %r" % (rel, found))
        check(found[0].startswith(truth[k] + "/") and os.path.basename(rel) in found[0],
              "the wrong image %s (truly %s) was moved to %s" % (rel, truth[k], found[0]))
        check(found[0] not in before, "%s replaced %s" % (rel, found[0]))
    else:
        check(after.get(rel) == before[rel], "the correct image %s moved or changed (%r)"
              % (rel, [p for p, h in after.items() if h == before[rel]]))
check(len(after) == 100, "images_labeled_by_folder/ holds %d files after the job: %r"
      % (len(after), sorted(set(after) - set(before))))

# ---- the report ----
check(st["kind"] == "verify" and st["state"] == "done", "status %r" % st)
check(st["total"] == 100 and st["labeled"] == 100, "total/labeled %r/%r" % (st["total"],
                                                                         st["labeled"]))
check(st.get("moved") == 10, "status moved %r, wanted 10" % st.get("moved"))
rates = {str(f).rstrip("/").split("/")[-1]: r for f, r in (st.get("error_rate") or {}).items()}
check(sorted(rates) == LABELS, "error_rate %r: one rate per folder (cat, dog) wanted"
      % st.get("error_rate"))
for f, r in rates.items():
    check(abs(r - 0.1) <= 0.03, "error rate of %s/: %r, 0.1 wanted" % (f, r))
ex = job_execs(env)
check(len(ex) == 1, "%d labeling executions" % len(ex))
full = env.history(ex[0]["id"])
want = ["LIST", "PREDICT", "WAIT_ANSWERS", "CONSOLIDATE", "MOVE", "DONE"]
check(full["state"] == "DONE" and collapse(states(full)) == want,
      "execution %s: %s %r, wanted %r" % (full["id"], full["state"], states(full), want))
env.stop()
print("labeling verify: ok (%d wrong found and moved, none of the 90 others; %.0fs)"
      % (len(wrong_keys), time.time() - t0))
