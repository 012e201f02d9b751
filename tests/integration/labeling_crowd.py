"""A crowd labels 200 images (issue #10, "Must be shown by tests": simulated reviewers, manifests
that pass the checker, training on them).

200 synthetic images of three labels under unlabeled/shapes/ with neutral names; a job with
--workers-per-image 3, --min-confidence 0 (no extra worker is asked, so the comparison with
majority vote is on exactly the same answers), --fold, and a good and a bad example (the task
shows their texts, their images are served). Four workers, each an API token,
answer through GET /api/reviews/next and POST /api/reviews/ID/answer, one request at a time in
a seeded random order of workers: accuracy 0.95, 0.8, 0.6 and an adversary who always answers
"stripes". Then:

- every image was answered by exactly three distinct workers, none served a task twice; a
  second answer to the same task by the same worker is 409 (tried once);
- the consolidated labels of the output manifest are right more often than majority vote on the
  same answers (ties: the tied label answered first);
- `label-job status --json`: total/labeled 200, 600 answers, the per-label counts of the
  manifest, each worker's answers as given; the adversary has the lowest quality, 0.95 and 0.8
  are above 0.6;
- the output manifest passes gt_manifest_check (attribute and job name), the input manifest
  passes in input mode and names exactly the 200 images;
- the labeling execution went LIST, PREDICT (no model: nothing), WAIT_ANSWERS, CONSOLIDATE,
  OUTPUT, FOLD, DONE;
- --fold copied every image to images_labeled_by_folder/<consolidated label>/
  labeling-job-shapes-<file> with the same bytes; `retraind trigger training` trains on those
  copies (each under its consolidated label in the training manifest) and deploys.
"""
import json
import os
import time

from labeling_lib import (ADMIN, Crowd, Worker, base_url, call, call_raw, collapse, create,
                          gt_check, job_execs, lj_env, majority, make_images, output_labels,
                          read_key, wait_total)
from rtlib import check, states

SEED = 10
JOB = "shapes"
LABELS = ["stripes", "circles", "checks"]
PREFIX = "unlabeled/shapes/"

workers = [Worker("w95", 0.95), Worker("w80", 0.8), Worker("w60", 0.6),
           Worker("adversary", constant="stripes")]
env = lj_env([w.name for w in workers])
truth = make_images(env, PREFIX, [("stripes", "stripes", 67), ("circles", "circles", 67),
                                  ("checks", "checks", 66)], SEED)
check(len(truth) == 200, "made %d images" % len(truth))
env.start()
base = base_url(env)
t0 = time.time()
# Good and bad examples outside the job's prefix (not labeled themselves).
examples = make_images(env, "examples/", [("good", "circles", 1), ("bad", "checks", 1)], SEED)
good = next(k for k, v in examples.items() if v == "good")
bad = next(k for k, v in examples.items() if v == "bad")
r = create(env, JOB, PREFIX, LABELS, "--workers-per-image", "3", "--min-confidence", "0",
           "--fold", "--good-example", good, "--good-text", "Clear circles: circles",
           "--bad-example", bad, "--bad-text", "Checks are not stripes")
check("labeling job %s created" % JOB in r.stdout + r.stderr, "create said %r %r"
      % (r.stdout, r.stderr))
wait_total(env, JOB, 200)
print("listed 200 images in %.1fs" % (time.time() - t0), flush=True)

crowd = Crowd(base, JOB, workers, truth, LABELS, SEED)

# The first task: its image is the key's bytes, its options the labels in order (no "None of
# the Above"), its examples' texts and images those of the job, and a second answer by the same
# worker is refused with 409.
w0 = workers[0]
task = crowd.next_task(w0)
check(task is not None, "w95 got no task from a job of 200 images")
crowd.check_task(w0, task)
check(task.get("options") == LABELS, "task options %r, wanted %r" % (task.get("options"), LABELS))
status_code, data = call_raw(base, w0.name, task["image"])
check(status_code == 200 and data == read_key(env, task["key"]),
      "GET %s did not serve the bytes of %s" % (task["image"], task["key"]))
ex = task.get("examples") or {}
for which, key, text in (("good", good, "Clear circles: circles"),
                         ("bad", bad, "Checks are not stripes")):
    e = ex.get(which) or {}
    check(e.get("text") == text and e.get("image"), "task examples %r" % task.get("examples"))
    status_code, data = call_raw(base, w0.name, e["image"])
    check(status_code == 200 and data == read_key(env, key), "GET %s did not serve %s"
          % (e["image"], key))
crowd.answer(w0, task["id"], task["key"])
again = "circles" if crowd.records[-1][3] != "circles" else "checks"
code, body = call(base, w0.name, "/api/reviews/%s/answer" % task["id"], "POST", {"label": again})
check(code == 409, "a second answer by the same worker: %d %r, wanted 409" % (code, body))

st = crowd.drive(env, timeout=120)
print("answered %d in %.1fs" % (len(crowd.records), time.time() - t0), flush=True)

# ---- every image by exactly three distinct workers ----
answers = crowd.by_key()
check(sorted(answers) == sorted(truth), "answered %d images of %d" % (len(answers), len(truth)))
for key, a in answers.items():
    who = [w for w, _ in a]
    check(len(who) == 3 and len(set(who)) == 3, "%s answered by %r" % (key, who))
code, listed = call(base, ADMIN, "/api/reviews?limit=10000")
check(code == 200, "/api/reviews: %d %r" % (code, listed))
jobs = [t for t in listed if t.get("source") == "labeling-job"]
check(len(jobs) == 200, "%d labeling-job tasks listed, wanted 200" % len(jobs))
for t in jobs:
    check(t["state"] == "answered" and t["answers"] == 3 and t["answers_needed"] == 3,
          "task %s: %r" % (t["id"], t))

# ---- the status report ----
check(st["name"] == JOB and st["kind"] == "label", "status %r" % st)
check(st["total"] == 200 and st["labeled"] == 200, "total/labeled %r/%r" % (st["total"],
                                                                         st["labeled"]))
check(st["answers"] == 600, "status answers %r, wanted 600" % st["answers"])
mkey = "labeling-jobs/%s/manifests/output/output.manifest" % JOB
check(st["output_manifest"] == mkey, "output_manifest %r, wanted %r" % (st["output_manifest"],
                                                                      mkey))
given = {}
for w, _, _, _ in crowd.records:
    given[w] = given.get(w, 0) + 1
check(sorted(st["workers"]) == sorted(given), "status workers %r, answers given by %r"
      % (sorted(st["workers"]), sorted(given)))
for w, n in given.items():
    check(st["workers"][w]["answers"] == n, "%s: status says %r answers, gave %d"
          % (w, st["workers"][w]["answers"], n))
    q = st["workers"][w]["quality"]
    check(isinstance(q, (int, float)) and 0 <= q <= 1, "%s quality %r" % (w, q))
quality = {w: st["workers"][w]["quality"] for w in given}
print("quality:", json.dumps(quality), flush=True)
low = min(quality, key=lambda w: quality[w])
check(low == "adversary" and list(quality.values()).count(quality[low]) == 1,
      "the adversary does not have the lowest quality: %r" % quality)
# Simulations of this crowd put 0.95 and 0.8 in either order, but always well above 0.6.
check(min(quality["w95"], quality["w80"]) > quality["w60"], "quality %r" % quality)

# ---- consolidation against majority vote ----
out = output_labels(env, mkey, JOB)
check(sorted(out) == sorted(truth), "the output manifest names %d images, %d wanted"
      % (len(out), len(truth)))
ds_right = sum(out[k][0] == truth[k] for k in truth)
mv_right = sum(majority(answers[k]) == truth[k] for k in truth)
ties = [k for k in truth if len({lb for _, lb in answers[k]}) == 3]
mv_best = mv_right + sum(majority(answers[k]) != truth[k] for k in ties)
print("consolidated %d/200 right, majority vote %d/200 (%d ties; %d if every tie went right)"
      % (ds_right, mv_right, len(ties), mv_best), flush=True)
check(ds_right > mv_right, "consolidation (%d right) is not better than majority vote (%d)"
      % (ds_right, mv_right))
counts = {}
for k, (name, index, meta) in out.items():
    counts[name] = counts.get(name, 0) + 1
    check(index == LABELS.index(name), "%s: class %r index %r" % (k, name, index))
    check(meta["human-annotated"] == "yes" and 0 < meta["confidence"] <= 1,
          "%s metadata %r" % (k, meta))
check(st["labels"] == counts, "status labels %r, manifest %r" % (st["labels"], counts))

# ---- Ground Truth format ----
gt_check(os.path.join(env.bucket, mkey), attr=JOB, job_name=JOB)
ikey = "labeling-jobs/%s/manifests/input.manifest" % JOB
gt_check(os.path.join(env.bucket, ikey), input_mode=True)
with open(os.path.join(env.bucket, ikey)) as f:
    refs = sorted(json.loads(line)["source-ref"].split("/", 3)[3] for line in f)
check(refs == sorted(truth), "the input manifest names %d keys: %r..." % (len(refs), refs[:3]))

# ---- the execution ----
ex = job_execs(env)
check(len(ex) == 1, "%d labeling executions: %r" % (len(ex), ex))
full = env.history(ex[0]["id"])
want = ["LIST", "PREDICT", "WAIT_ANSWERS", "CONSOLIDATE", "OUTPUT", "FOLD", "DONE"]
check(full["state"] == "DONE" and collapse(states(full)) == want,
      "execution %s: %s %r, wanted %r" % (full["id"], full["state"], states(full), want))

# ---- the fold and a training on it ----
copies = {}
for label in os.listdir(env.labeled_dir):
    for name in os.listdir(os.path.join(env.labeled_dir, label)):
        copies[label + "/" + name] = os.path.join(env.labeled_dir, label, name)
expected = {"%s/labeling-job-%s-%s" % (out[k][0], JOB, os.path.basename(k)): k for k in truth}
check(sorted(copies) == sorted(expected), "images_labeled_by_folder/ holds %d files, %d expected;"
      " missing %r, extra %r" % (len(copies), len(expected),
                                 sorted(set(expected) - set(copies))[:5],
                                 sorted(set(copies) - set(expected))[:5]))
for rel, k in expected.items():
    with open(copies[rel], "rb") as f:
        check(f.read() == read_key(env, k), "the copy %s differs from %s" % (rel, k))
env.cli("trigger", "training")
tr = env.wait_exec(lambda e: e["state"] in ("DONE", "FAILED", "FAILED_F1", "NOT_DEPLOYED",
                                            "NOT_MET"), 60, "the training")
check(tr["state"] == "DONE", "the training ended %s (%s)" % (tr["state"], tr.get("error")))
steps = env.history(tr["id"])["steps"]
man = [s["output"] for s in steps if s["state"] == "MANIFEST"][-1]
check(man["images"] == 200, "the training manifest has %r images" % man)
with open(os.path.join(env.bucket, man["key"])) as f:
    trained = [json.loads(line) for line in f]
for e in trained:
    rel = e["source-ref"].split("/images_labeled_by_folder/", 1)[-1]
    check(rel in expected, "the training manifest has %r" % e["source-ref"])
    names = [v["class-name"] for k, v in e.items() if k.endswith("-metadata")]
    check(names == [rel.split("/")[0]], "%s trained as %r" % (rel, names))
check(env.status()["active_model"] is not None, "no model deployed after the training")
env.stop()
print("labeling crowd: ok (consolidated %d/200, majority %d/200; %.0fs)"
      % (ds_right, mv_right, time.time() - t0))
