"""labeling_crash - a labeling job and a verification job killed (SIGKILL) at every step, then
restarted, end exactly as an uninterrupted job does.

For each crash point (RETRAIND_CRASH_AT: "after:S" = the step's work is done but its transition
is not written; "enter:S" = the state is durable but its step has not run) a fresh store gets 12
unlabeled images (a labeling job with --fold) and 12 labeled ones of which 2 are in the wrong
folder (a verification job). Two reviewers answer through the CLI while the daemon runs or is
down. After the crash the daemon is started again and the jobs finish. Checks, for every point:
- the crash happened where asked;
- the output manifest has every image once with the right label (answers are right), and
  passes the Ground Truth checker; the folded copies are exactly one per image, in the right
  folder;
- the verification moved exactly the two wrong images (each exists once, in the right folder;
  nothing else moved, nothing lost or duplicated), and its status says so;
- each job has exactly one execution, DONE, and one "labeling.done" notification.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gt_manifest_check  # noqa: E402
from rtlib import SYNTH, Env, check  # noqa: E402

LABELS = ["stripes", "circles"]
POINTS = ["after:LIST", "enter:PREDICT", "enter:WAIT_ANSWERS", "after:CONSOLIDATE",
          "enter:OUTPUT", "after:OUTPUT", "enter:FOLD", "after:FOLD", "enter:MOVE", "after:MOVE"]


def synth(env, labels, count, start=0):
    stage = tempfile.mkdtemp(prefix="stage-", dir=env.dir)
    subprocess.run([SYNTH, "--labels", ",".join(labels), "--count", str(count), "--start",
                    str(start), "--dir", stage], check=True, timeout=120)
    return stage


def setup(env):
    """12 unlabeled images (truth kept) and 12 labeled ones, 2 in the wrong folder."""
    truth, verify_truth = {}, {}
    stage = synth(env, LABELS, 6)
    dest = os.path.join(env.bucket, "unlabeled", "pets")
    os.makedirs(dest)
    for label in LABELS:
        for name in sorted(os.listdir(os.path.join(stage, label))):
            opaque = hashlib.sha256((label + name).encode()).hexdigest()[:10] + ".png"
            os.rename(os.path.join(stage, label, name), os.path.join(dest, opaque))
            truth["unlabeled/pets/" + opaque] = label
    stage = synth(env, LABELS, 6, start=100)
    for label in LABELS:
        for i, name in enumerate(sorted(os.listdir(os.path.join(stage, label)))):
            wrong = i == 0  # one per label is filed under the other label
            folder = LABELS[1 - LABELS.index(label)] if wrong else label
            d = os.path.join(env.bucket, "images_labeled_by_folder", folder)
            os.makedirs(d, exist_ok=True)
            os.rename(os.path.join(stage, label, name), os.path.join(d, name))
            verify_truth[name] = label
    return truth, verify_truth


def restart_if_dead(env):
    if env.proc is not None and env.proc.poll() is not None:
        env.wait_exit()
        env.start()


def answer_open(env, truth_of):
    tasks = env.json("review", "list", "--state", "open", "--source", "labeling-job",
                     "--limit", "1000")
    for t in tasks:
        for w in ("ann", "bob"):
            r = env.cli("review", "answer", t["id"], truth_of(t["key"]), "--as", w, check_rc=None)
            check(r.returncode == 0 or "already" in r.stderr or "needs no more" in r.stderr,
                  "answer %s as %s: %s" % (t["id"], w, r.stderr))
    return len(tasks)


def job_done(env, name):
    r = env.cli("label-job", "status", name, "--json", check_rc=None)
    return r.returncode == 0 and json.loads(r.stdout)["state"] == "done"


def run_point(point):
    env = Env(poll="1h")
    truth, verify_truth = setup(env)
    env.start(env={"RETRAIND_CRASH_AT": point})
    env.cli("label-job", "create", "--name", "pets", "--prefix", "unlabeled/pets/", "--labels",
            ",".join(LABELS), "--instructions", "Which shape?", "--workers-per-image", "2",
            "--min-confidence", "0", "--fold")
    env.cli("label-job", "create", "--name", "check", "--verify", "--prefix",
            "images_labeled_by_folder/", "--labels", ",".join(LABELS), "--instructions",
            "Is the label right?", "--workers-per-image", "2", "--min-confidence", "0.5")

    def truth_of(key):
        return truth[key] if key in truth else verify_truth[os.path.basename(key)]

    deadline = time.time() + 180
    while True:  # not env.wait_for: the daemon dying here is the point
        restart_if_dead(env)
        answer_open(env, truth_of)
        if job_done(env, "pets") and job_done(env, "check"):
            break
        check(time.time() < deadline, "%s: jobs not done in 180 s\n%s" % (point,
                                                                       env.log()[-4000:]))
        time.sleep(0.3)
    check("event=crash_injected at=" + point in env.log(),
          "%s: no crash was injected\n%s" % (point, env.log()[-2000:]))
    env.stop()
    # The labeling job: one line per image, right; one copy per image.
    manifest = os.path.join(env.bucket, "labeling-jobs/pets/manifests/output/output.manifest")
    problems = gt_manifest_check.check_file(manifest, attr="pets", job_name="pets")
    check(not problems, "%s: manifest refused: %r" % (point, problems[:3]))
    with open(manifest) as f:
        lines = [json.loads(line) for line in f]
    got = {o["source-ref"].split("/", 3)[3]: o["pets-metadata"]["class-name"] for o in lines}
    check(len(lines) == len(truth) and got == truth, "%s: manifest %r" % (point, got))
    copies = {}
    for label in LABELS:
        folder = os.path.join(env.bucket, "images_labeled_by_folder", label)
        for name in os.listdir(folder):
            if name.startswith("labeling-job-pets-"):
                copies[name[len("labeling-job-pets-"):]] = label
    check(copies == {k.split("/")[-1]: v for k, v in truth.items()},
          "%s: folded copies %r" % (point, copies))
    # The verification: every image once, in its right folder.
    where = {}
    for label in LABELS:
        folder = os.path.join(env.bucket, "images_labeled_by_folder", label)
        for name in os.listdir(folder):
            if not name.startswith("labeling-job-"):
                check(name not in where, "%s: %s in two folders" % (point, name))
                where[name] = label
    check(where == verify_truth, "%s: after verification %r" % (point, where))
    s = env.json("label-job", "status", "check")
    check(s["moved"] == 2, "%s: moved %r" % (point, s.get("moved")))
    runs = env.history("--workflow", "labeling")
    check(len(runs) == 2 and all(e["state"] == "DONE" for e in runs),
          "%s: labeling executions %r" % (point, [(e["id"], e["state"]) for e in runs]))
    # Every crash point is before the end: each job's end is told exactly once.
    done_notes = env.log_count(r"notice notify event=labeling\.done ")
    check(done_notes == 2, "%s: %d labeling.done notifications in the log" % (point, done_notes))
    env.cleanup()


for p in POINTS:
    run_point(p)
    print("crash at %s: ok" % p, flush=True)
print("labeling crash: ok")
