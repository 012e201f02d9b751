"""A labeling job across a restart (issue #10, "Must be shown by tests": restart in the middle of
a job - no task lost, no reviewer gets a duplicate, the final manifests identical to an
uninterrupted run with the same answers).

60 synthetic images of two labels, 2 workers per image, --min-confidence 0, three workers
(API tokens, in a seeded random order) through /api/reviews/next and POST .../answer.

- Run A: half the answers (60 of 120), one more task handed out and left unanswered, then
  SIGTERM; the restarted daemon still has 60 tasks, the answers given, one labeling execution
  (resumed, not started twice); the workers finish; never a task served to a worker who
  answered it, never a refusal.
- Run B: the same with kill -9 instead of SIGTERM.
- Run R: a fresh data folder and store with the same images, the same job, and run A's answers
  posted in the same order without interruption. A's output manifest equals R's byte for byte
  once creation-date values are blanked; the input manifests are byte-identical. B is compared
  with R when it gave the same answers as A, else with its own uninterrupted replay.
"""
import time

from labeling_lib import (Crowd, Worker, base_url, call, create, job_execs, lj_env, make_images,
                          read_key, status, wait_total, without_dates)
from rtlib import check

SEED = 20
JOB = "restart"
LABELS = ["stripes", "circles"]
PREFIX = "unlabeled/restart/"
NAMES = ["r90", "r80", "r70"]
OUT = "labeling-jobs/%s/manifests/output/output.manifest" % JOB
INP = "labeling-jobs/%s/manifests/input.manifest" % JOB


def workers():
    return [Worker("r90", 0.9), Worker("r80", 0.8), Worker("r70", 0.7)]


def setup():
    env = lj_env(NAMES)
    truth = make_images(env, PREFIX, [("stripes", "stripes", 30), ("circles", "circles", 30)],
                        SEED)
    env.start()
    create(env, JOB, PREFIX, LABELS, "--workers-per-image", "2", "--min-confidence", "0")
    wait_total(env, JOB, 60)
    return env, truth


def interrupted(kind):
    env, truth = setup()
    crowd = Crowd(base_url(env), JOB, workers(), truth, LABELS, SEED)
    crowd.run(limit=60)
    # One more task handed out and left unanswered when the daemon goes.
    holder = crowd.pick()
    held = crowd.next_task(holder)
    check(held is not None, "no task left after 60 of 120 answers")
    crowd.check_task(holder, held)
    before = status(env, JOB)
    check(before["answers"] == 60 and before["total"] == 60,
          "%s: status before the stop %r" % (kind, before))
    if kind == "sigterm":
        env.stop()
    else:
        env.kill()
    mark = len(env.log())
    env.start()
    crowd.base = base_url(env, after=mark)
    after = status(env, JOB)
    check(after["total"] == 60 and after["answers"] == 60 and after["state"] == "running",
          "%s: status after the restart %r (before: %r)" % (kind, after, before))
    check(after["labeled"] == before["labeled"], "%s: labeled %r before, %r after"
          % (kind, before["labeled"], after["labeled"]))
    st = crowd.drive(env, timeout=60)
    check(st["total"] == 60 and st["labeled"] == 60 and st["answers"] == 120,
          "%s: final status %r" % (kind, st))
    check(held["id"] in {t for _, t, _, _ in crowd.records},
          "%s: the task held across the restart was never answered" % kind)
    per_task = {}
    for w, t, _, _ in crowd.records:
        per_task.setdefault(t, set()).add(w)
    check(len(per_task) == 60 and all(len(v) == 2 for v in per_task.values()),
          "%s: answers per task %r" % (kind, sorted(len(v) for v in per_task.values())))
    ex = job_execs(env)
    check(len(ex) == 1 and ex[0]["state"] == "DONE", "%s: labeling executions %r" % (kind, ex))
    result = (read_key(env, OUT), read_key(env, INP), crowd.records)
    env.stop()
    return result


def replay(records):
    """A fresh run answering records in order, without interruption."""
    env, truth = setup()
    base = base_url(env)
    for w, task, key, label in records:
        code, body = call(base, w, "/api/reviews/%s/answer" % task, "POST", {"label": label})
        check(code == 200, "replay: %s answering %s (%s) with %r: %d %r"
              % (w, task, key, label, code, body))
    st = env.wait_for(lambda: (lambda s: s if s["state"] != "running" else None)(
        status(env, JOB)), 30, "the replayed job to end")
    check(st["state"] == "done" and st["labeled"] == 60, "replay: status %r" % st)
    result = (read_key(env, OUT), read_key(env, INP))
    env.stop()
    return result


def same(kind, got, ref):
    out, inp = got[0], got[1]
    check(inp == ref[1], "%s: the input manifest differs from the uninterrupted run's" % kind)
    a, b = without_dates(out), without_dates(ref[0])
    diff = [(i + 1, x, y) for i, (x, y) in enumerate(zip(a, b)) if x != y]
    check(len(a) == len(b) and not diff, "%s: the output manifest differs from the "
          "uninterrupted run's (%d and %d lines); first differences: %r"
          % (kind, len(a), len(b), diff[:3]))


t0 = time.time()
run_a = interrupted("sigterm")
print("A (SIGTERM) done in %.0fs" % (time.time() - t0), flush=True)
run_b = interrupted("kill")
print("B (kill -9) done in %.0fs" % (time.time() - t0), flush=True)
ref_a = replay(run_a[2])
same("SIGTERM", run_a, ref_a)
key_set = sorted((w, t, lb) for w, t, _, lb in run_a[2])
if sorted((w, t, lb) for w, t, _, lb in run_b[2]) == key_set:
    same("kill -9", run_b, ref_a)
    note = "B gave A's answers"
else:
    same("kill -9", run_b, replay(run_b[2]))
    note = "B replayed on its own"
print("labeling restart: ok (%d manifest lines; %s; %.0fs)"
      % (len(run_a[0].splitlines()), note, time.time() - t0))
