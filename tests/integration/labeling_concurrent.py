"""Workers at the same time (issue #10: "with K workers per image, K distinct reviewers answer
it"; "a reviewer never sees the same image twice").

60 synthetic images, --workers-per-image 3 --min-confidence 0; five workers, each in its own
thread, asking and answering as fast as they can (no pause), until each gets 204 and the job
is done. Every image is answered by exactly three distinct workers; no worker is handed a task
it answered; no answer is refused (a task is never handed to more workers than it needs);
status agrees (180 answers, per-worker counts).
"""
import threading
import time

from labeling_lib import Crowd, Worker, base_url, create, lj_env, make_images, status, wait_total
from rtlib import check, fail

SEED = 60
JOB = "concurrent"
LABELS = ["stripes", "circles"]
PREFIX = "unlabeled/concurrent/"

workers = [Worker("c%d" % i, 0.85) for i in range(5)]
env = lj_env([w.name for w in workers])
truth = make_images(env, PREFIX, [("stripes", "stripes", 30), ("circles", "circles", 30)], SEED)
env.start()
base = base_url(env)
create(env, JOB, PREFIX, LABELS, "--workers-per-image", "3", "--min-confidence", "0")
wait_total(env, JOB, 60)
t0 = time.time()
# One Crowd per worker (its own records); all of them share nothing but the server.
crowds = [Crowd(base, JOB, [w], truth, LABELS, SEED) for w in workers]
errors = []


def work(c):
    try:
        c.run()
    except SystemExit:  # rtlib.fail in a thread: keep the message for the main thread
        errors.append("a worker thread failed (see above)")
    except Exception as e:  # noqa: BLE001
        errors.append(repr(e))


threads = [threading.Thread(target=work, args=(c,)) for c in crowds]
for t in threads:
    t.start()
for t in threads:
    t.join(timeout=90)
check(not any(t.is_alive() for t in threads), "worker threads still running after 90 s")
check(not errors, "worker threads failed: %r" % errors)
st = env.wait_for(lambda: (lambda s: s if s["state"] != "running" else None)(status(env, JOB)),
                  30, "the job to end")
check(st["state"] == "done", "job ended %r" % st)

per_key, per_worker = {}, {}
for c in crowds:
    for w, _, key, _ in c.records:
        per_key.setdefault(key, []).append(w)
        per_worker[w] = per_worker.get(w, 0) + 1
check(sorted(per_key) == sorted(truth), "answered %d of 60 images" % len(per_key))
for k, who in per_key.items():
    if len(who) != 3 or len(set(who)) != 3:
        fail("%s answered by %r" % (k, who))
check(st["answers"] == 180 and st["labeled"] == 60, "status %r" % st)
for w, n in per_worker.items():
    check(st["workers"][w]["answers"] == n, "%s: status %r answers, gave %d"
          % (w, st["workers"][w]["answers"], n))
env.stop()
print("labeling concurrent: ok (answers per worker %r; %.1fs)"
      % (sorted(per_worker.values()), time.time() - t0))
