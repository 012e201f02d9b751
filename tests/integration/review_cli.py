"""`retraind review list|answer` on a journal whose tasks review-fixture makes:

- with no journal yet, `review list` prints [] (and creates nothing) and `review answer` says
  "no such task" (exit 1) without creating one;
- `review list --json` has DESIGN.md's shape, newest first; --state and --source filter; options
  may come before or after the words; an unknown state is a usage error (exit 2);
- `review answer`: unknown task exit 1 "no such task"; a label that is not an option exit 2
  naming the options; a second answer by the same worker exit 1; the default worker is
  cli:<unix user>, --as names another; a task needing two answers stays open after one and is
  answered (majority) after a second worker's;
- the answer waits for a lock another process holds (busy timeout) instead of failing;
- it works while the daemon runs (the daemon's journal, its lock held by the daemon).
"""
import getpass
import json
import os
import subprocess
import time

from rtlib import BUILD, Env, check

FIXTURE = os.path.join(BUILD, "review-fixture")
env = Env(poll="1h")


def fixture(*args):
    r = subprocess.run([FIXTURE, env.data, *args], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "review-fixture %s: %d %s" % (args, r.returncode, r.stderr))
    return r


# ---- no journal yet ----
check(env.json("review", "list") == [], "review list without a journal")
r = env.cli("review", "answer", "rt-x", "cat", check_rc=1)
check("no such task" in r.stderr, "answer without a journal: %r" % r.stderr)
check(not os.path.exists(os.path.join(env.data, "journal.db")), "a CLI command made the journal")

# ---- tasks ----
fixture("create", "rt-de-1", "detection", "images_for_detection/a.jpg", "41.5", "1", "1000")
fixture("create", "rt-sa-2", "sampling", "images_for_detection/b.png", "88", "1", "2000")
fixture("create", "rt-lj-3", "labeling-job", "unlabeled/c.jpg", "-1", "2", "3000")
fixture("create", "rt-de-1", "detection", "other.jpg", "1", "1", "4000")  # idempotent

tasks = env.json("review", "list")
check([t["id"] for t in tasks] == ["rt-lj-3", "rt-sa-2", "rt-de-1"], "order: %r" % tasks)
t = tasks[2]
for key in ("id", "key", "source", "detected_label", "confidence", "options", "state"):
    check(key in t, "review list --json lacks %s: %r" % (key, t))
check(t["key"] == "images_for_detection/a.jpg" and t["source"] == "detection", "task: %r" % t)
check(t["detected_label"] == "cat" and t["confidence"] == 41.5, "task: %r" % t)
check(t["options"] == ["cat", "dog", "None of the Above"] and t["state"] == "open", "task: %r" % t)
check(tasks[0]["confidence"] is None, "no confidence is null: %r" % tasks[0])
check(tasks[0]["source"] == "labeling-job" and tasks[1]["source"] == "sampling", "%r" % tasks)
r = subprocess.run([os.environ.get("RETRAIND_BIN", "build/retraind"), "review", "--json",
                    "--source", "sampling", "-c", env.cfg, "list"], capture_output=True, text=True)
check(r.returncode == 0 and [t["id"] for t in json.loads(r.stdout)] == ["rt-sa-2"],
      "options before the words: %d %r %r" % (r.returncode, r.stdout, r.stderr))
r = env.cli("review", "list", "--state", "bogus", check_rc=2)
check("unknown state" in r.stderr, "bad state: %r" % r.stderr)
r = env.cli("review", "list")
check("rt-de-1" in r.stdout and "0/1" in r.stdout and "41.5" in r.stdout, "table: %r" % r.stdout)

# ---- answers ----
r = env.cli("review", "answer", "rt-nope", "cat", check_rc=1)
check("no such task" in r.stderr, "unknown task: %r" % r.stderr)
r = env.cli("review", "answer", "rt-de-1", "horse", check_rc=2)
check('"horse" is not an option' in r.stderr and '"None of the Above"' in r.stderr,
      "bad label: %r" % r.stderr)
r = env.cli("review", "answer", "rt-de-1", "dog")
check("answered" in r.stdout, "answer: %r" % r.stdout)
r = env.cli("review", "answer", "rt-de-1", "cat", check_rc=1)
check("already" in r.stderr, "second answer: %r" % r.stderr)
done = {t["id"]: t for t in env.json("review", "list")}
check(done["rt-de-1"]["state"] == "answered" and done["rt-de-1"]["result"] == "dog",
      "answered task: %r" % done["rt-de-1"])
check(done["rt-de-1"]["answered_at"], "answered_at: %r" % done["rt-de-1"])
check([t["id"] for t in env.json("review", "list", "--state", "open")] == ["rt-lj-3", "rt-sa-2"],
      "--state open")

# The default worker is cli:<user>; two distinct workers complete a task needing two.
env.cli("review", "answer", "rt-lj-3", "None of the Above")
r = env.cli("review", "answer", "rt-lj-3", "dog", check_rc=1)
check("cli:%s has answered" % getpass.getuser() in r.stderr, "default worker: %r" % r.stderr)
check({t["id"]: t for t in env.json("review", "list")}["rt-lj-3"]["state"] == "open",
      "one of two answers")
r = env.cli("review", "answer", "--as", "ann", "rt-lj-3", "dog")
check("answered" in r.stdout, "--as: %r" % r.stdout)
lj = {t["id"]: t for t in env.json("review", "list")}["rt-lj-3"]
check(lj["state"] == "answered" and lj["answers"] == 2, "two answers: %r" % lj)
# A tie (None of the Above first, then dog) goes to the earlier answer.
check(lj["result"] == "None of the Above", "tie: %r" % lj)
r = env.cli("review", "answer", "--as", "bob", "rt-lj-3", "dog", check_rc=1)
check("needs no more answers" in r.stderr, "a complete task: %r" % r.stderr)

# ---- a lock held by another process: the answer waits for it ----
holder = subprocess.Popen([FIXTURE, env.data, "lock", "2"], stdout=subprocess.PIPE, text=True)
check(holder.stdout.readline().strip() == "locked", "fixture did not lock")
t0 = time.time()
env.cli("review", "answer", "--as", "ann", "rt-sa-2", "cat")
waited = time.time() - t0
holder.wait(timeout=30)
check(waited >= 1.0, "the answer did not wait for the lock (%.2fs)" % waited)

# ---- while the daemon runs ----
fixture("create", "rt-de-4", "detection", "images_for_detection/d.jpg", "12", "1")
env.start()
r = env.cli("review", "answer", "rt-de-4", "cat")
check("answered" in r.stdout, "answer with the daemon running: %r" % r.stdout)
check({t["id"]: t for t in env.json("review", "list")}["rt-de-4"]["state"] == "answered",
      "answered with the daemon running")
env.stop()
print("ok")
