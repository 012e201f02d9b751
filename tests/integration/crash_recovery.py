"""kill -9 of the daemon in each training state, then restart (issue #3).

A first training is deployed normally and the folders are kept as a base. For every case, a copy
of the base gets 10 more images and a daemon started with RETRAIND_CRASH_AT=<when>:<STATE>, which
SIGKILLs itself at that point: "after:S" once S's work is done but before the transition is
written (the worst moment), "enter:S" right after S was entered. A new daemon then resumes the
execution. Each case checks: the daemon really died of SIGKILL; the execution ends DONE; exactly
one model version exists for it (journal and models folder); exactly one manifest; the step list
has no duplicate transitions; previous_trained_images = 20; the new version is active and the
first one stopped.
"""
import os
import shutil
import signal
import sqlite3
import sys

from rtlib import Env, check, states, step_output

CASES = [("after", s) for s in ("CHECK", "MANIFEST", "TRAIN", "WAIT_TRAINING", "EVALUATE",
                                "START", "WAIT_RUNNING", "SWITCH", "STOP_OLD")]
CASES += [("enter", "WAIT_TRAINING"), ("enter", "WAIT_RUNNING"), ("enter", "STOP_OLD")]
if len(sys.argv) > 1:
    CASES = [tuple(a.split(":")) for a in sys.argv[1:]]

CANONICAL = ["CHECK", "MANIFEST", "TRAIN", "WAIT_TRAINING", "EVALUATE", "START", "WAIT_RUNNING",
             "SWITCH", "STOP_OLD", "DONE"]

# The base: one deployed version trained on 10 images. The poll is long so that nothing but the
# start-up check and our triggers runs.
base = Env(poll="10m", min_untrained=10)
base.add_images("stripes", 5)
base.add_images("circles", 5)
base.start()
first = base.wait_exec(lambda e: e["state"] == "DONE", 120, "base training DONE")
base.stop()
v1 = base.status()["active_model"]["version"]


def journal_rows(env, sql, *args):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(env.data, "journal.db"), uri=True)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


for when, state in CASES:
    name = "%s:%s" % (when, state)
    env = Env(poll="10m", min_untrained=10)
    shutil.rmtree(env.data, ignore_errors=True)
    shutil.rmtree(env.bucket, ignore_errors=True)
    shutil.copytree(base.data, env.data)
    shutil.copytree(base.bucket, env.bucket)
    env.add_images("stripes", 5, start=5)
    env.add_images("circles", 5, start=5)

    env.start(env={"RETRAIND_CRASH_AT": name}, wait_ready=False)
    rc = env.wait_exit(120)
    check(rc == -signal.SIGKILL, "%s: daemon exit %r, wanted SIGKILL\n%s" % (name, rc, env.log()[-2000:]))
    check("event=crash_injected at=%s" % name in env.log(), "%s: crash point not reached" % name)

    env.start()
    second = env.wait_exec(lambda e: e["state"] in ("DONE", "FAILED", "FAILED_F1")
                           and e["id"] != first["id"], 120, "%s: resumed training ends" % name)
    env.stop()
    sid = second["id"]
    check(second["state"] == "DONE", "%s: ended %s (%s)" % (name, second["state"], second["error"]))

    got = states(second)
    if when == "enter" and state == "WAIT_TRAINING":
        # The training in flight died with the process: the engine no longer knows the version,
        # so WAIT_TRAINING goes back to TRAIN once, under the same version name.
        want = CANONICAL[:4] + ["TRAIN", "WAIT_TRAINING"] + CANONICAL[4:]
        check(got == want, "%s: steps %r" % (name, got))
    else:
        check(got == CANONICAL, "%s: steps %r" % (name, got))

    rows = journal_rows(env, "SELECT version, status, active FROM models WHERE exec_id = ?", sid)
    check(len(rows) == 1, "%s: %d model rows for %s: %r" % (name, len(rows), sid, rows))
    v2 = rows[0][0]
    check(rows[0][1] == "RUNNING" and rows[0][2] == 1, "%s: new version row %r" % (name, rows))
    dirs = [d for d in os.listdir(os.path.join(env.data, "models")) if sid in d]
    check(dirs == [v2], "%s: model folders for %s: %r" % (name, sid, dirs))
    old = journal_rows(env, "SELECT status, active FROM models WHERE version = ?", v1)
    check(old == [("STOPPED", 0)], "%s: first version row %r" % (name, old))

    manifests = [f for f in os.listdir(os.path.join(env.bucket, "manifests")) if sid in f]
    check(len(manifests) == 1, "%s: manifests %r" % (name, manifests))
    with open(os.path.join(env.bucket, "manifests", manifests[0])) as f:
        lines = [l for l in f if l.strip()]
    check(len(lines) == 20, "%s: manifest has %d lines" % (name, len(lines)))
    check(step_output(second, "MANIFEST")["images"] == 20, "%s: MANIFEST output" % name)

    st = env.status()
    check(st["previous_trained_images"] == 20, "%s: previous_trained_images %r"
          % (name, st["previous_trained_images"]))
    check(st["active_model"]["version"] == v2, "%s: active %r" % (name, st["active_model"]))
    tmp = os.path.join(env.bucket, ".retraind-tmp")
    check(not os.path.exists(tmp) or os.listdir(tmp) == [], "%s: leftovers in .retraind-tmp" % name)
    print("%s: ok" % name, flush=True)
    env.cleanup()

print("crash recovery: %d cases ok" % len(CASES))
