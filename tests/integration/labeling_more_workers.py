"""An uncertain image goes to one more worker, up to a cap (issue #10, "Consolidation": when the
posterior of the best label is below the configured confidence, the image goes to one more
reviewer, up to a cap).

40 synthetic images of two labels, --workers-per-image 2 --max-workers 4 --min-confidence 0.9,
four workers (0.9, 0.8, 0.75, 0.7) answering through the HTTP API until the job is done:

- some images were asked of more than 2 workers, none of more than 4, never the same worker
  twice;
- in the output manifest every image is either at least 0.9 confident or has 4 answers;
- the task list agrees (answers, answers_needed), status's answers is the number given;
- the execution went back from CONSOLIDATE to WAIT_ANSWERS at least once and ended DONE.
"""
import time

from labeling_lib import (ADMIN, Crowd, Worker, base_url, call, create, job_execs, lj_env,
                          make_images, output_labels, wait_total)
from rtlib import check, states

SEED = 50
JOB = "more"
LABELS = ["stripes", "circles"]
PREFIX = "unlabeled/more/"

workers = [Worker("m90", 0.9), Worker("m80", 0.8), Worker("m75", 0.75), Worker("m70", 0.7)]
env = lj_env([w.name for w in workers])
truth = make_images(env, PREFIX, [("stripes", "stripes", 20), ("circles", "circles", 20)], SEED)
env.start()
t0 = time.time()
create(env, JOB, PREFIX, LABELS, "--workers-per-image", "2", "--max-workers", "4",
       "--min-confidence", "0.9")
wait_total(env, JOB, 40)
crowd = Crowd(base_url(env), JOB, workers, truth, LABELS, SEED)
st = crowd.drive(env, timeout=60)

answers = crowd.by_key()
check(sorted(answers) == sorted(truth), "answered %d images of 40" % len(answers))
n = {k: len(a) for k, a in answers.items()}
for k, a in answers.items():
    who = [w for w, _ in a]
    check(2 <= len(who) <= 4 and len(set(who)) == len(who), "%s answered by %r" % (k, who))
more = sorted(k for k in n if n[k] > 2)
print("answers per image: %r; %.1fs" % ({c: list(n.values()).count(c) for c in (2, 3, 4)},
                                        time.time() - t0), flush=True)
check(more, "no image was asked of a third worker (answers per image %r)" % sorted(n.values()))
check(st["answers"] == len(crowd.records), "status answers %r, given %d"
      % (st["answers"], len(crowd.records)))
out = output_labels(env, st["output_manifest"], JOB)
for k, (name, _, meta) in out.items():
    check(meta["confidence"] >= 0.9 or n[k] == 4, "%s: confidence %r with %d answers (%r)"
          % (k, meta["confidence"], n[k], answers[k]))
code, listed = call(base_url(env), ADMIN, "/api/reviews?limit=10000")
check(code == 200, "/api/reviews: %d" % code)
for t in listed:
    check(t["answers"] == n[t["key"]] and t["answers_needed"] == n[t["key"]]
          and t["state"] == "answered", "task %r, %d answers given" % (t, n[t["key"]]))
ex = job_execs(env)
check(len(ex) == 1, "%d labeling executions" % len(ex))
full = env.history(ex[0]["id"])
s = states(full)
again = any(a == "CONSOLIDATE" and b == "WAIT_ANSWERS" for a, b in zip(s, s[1:]))
check(full["state"] == "DONE" and again, "execution %s: %s %r" % (full["id"], full["state"], s))
env.stop()
print("labeling more workers: ok (%d of 40 images asked of more than 2 workers; %.0fs)"
      % (len(more), time.time() - t0))
