"""A real browser completes labeling-job tasks with the good and bad examples visible (issue #10,
"Must be shown by tests": headless Chromium, screenshot saved).

Two unlabeled images and two example images are written into the store; the job is created
through POST /api/label-jobs (the admin token) with one worker per image; the daemon's
`labeling` workflow lists the prefix into two review tasks (waited for, bounded). Headless
Chromium (tests/browser/labeljob.mjs) signs in as the reviewer alice, presses Start working and,
for each task, checks the job's instructions, both example images loaded (naturalWidth > 0) with
their descriptions and marks, then answers with the option's key and Enter; the empty state
follows. Then both tasks are answered with those labels, and the job's status counts them.
Then an admin's dashboard (tests/browser/labeljob-dashboard.mjs) shows the job's state,
labeled/total, label counts and alice's answers and quality as GET /api/label-jobs/NAME says,
and its create form refuses one label (reason shown) and creates a job that the API then lists.
Last, a verification job's task (an image in images_labeled_by_folder/stripes/) shows "Current
label: stripes" and "Correct (stripes)" as option 1, answered with key 1.
Screenshots: $RETRAIND_BUILD/artifacts/browser/browser_label_job/ (labeljob-task.png,
labeljob-end-empty.png, labeljob-dashboard.png, labeljob-dashboard-created.png, and
verify-labeljob-task.png, verify-labeljob-end-empty.png).

RT_LJ_FIXTURE=1 makes the two tasks with review-fixture instead of waiting for the workflow (to
work on the portal without it); the test is only meaningful for the workflow without it.
"""
import os
import subprocess

from browserlib import api, base_url, check, make_env, run
from rtlib import BUILD, SYNTH

JOB = "lj-browser"
PREFIX = "unlabeled/lj-browser/"
INSTRUCTIONS = "Choose stripes when the image shows parallel bands, circles when it shows rings."
GOOD_TEXT = "Clear stripes: answer stripes."
BAD_TEXT = "Not stripes: rings are circles, even when faint."

env = make_env(poll="10m")
folder = os.path.join(env.bucket, PREFIX)
os.makedirs(folder, exist_ok=True)
for name, cls, idx in (("a.png", 0, 11), ("b.png", 1, 12)):
    subprocess.run([SYNTH, "--label", str(cls), "--index", str(idx), "-o",
                    os.path.join(folder, name)], check=True, timeout=30)
examples = os.path.join(env.bucket, "examples", JOB)
os.makedirs(examples, exist_ok=True)
for name, cls in (("good.png", 0), ("bad.png", 1)):
    subprocess.run([SYNTH, "--label", str(cls), "--index", "3", "--size", "96", "-o",
                    os.path.join(examples, name)], check=True, timeout=30)
env.start()
base = base_url(env)

status, body = api(base, "/api/label-jobs", "POST", {
    "name": JOB, "prefix": PREFIX, "labels": ["stripes", "circles"],
    "instructions": INSTRUCTIONS, "good_example": "examples/%s/good.png" % JOB,
    "good_text": GOOD_TEXT, "bad_example": "examples/%s/bad.png" % JOB, "bad_text": BAD_TEXT,
    "workers_per_image": 1, "min_confidence": 0})
check(status == 201, "POST /api/label-jobs: %d %r" % (status, body))

if os.environ.get("RT_LJ_FIXTURE") == "1":
    for i, name in enumerate(("a.png", "b.png")):
        subprocess.run([os.path.join(BUILD, "review-fixture"), env.data, "label-task",
                        "lj-fixture-%d" % i, JOB, PREFIX + name], check=True, timeout=60)


def job_tasks():
    status, tasks = api(base, "/api/reviews?state=open")
    if status != 200:
        return None
    mine = [t for t in tasks if t["source"] == "labeling-job" and t["key"].startswith(PREFIX)]
    return mine if len(mine) == 2 else None


tasks = env.wait_for(job_tasks, 90, "two open tasks of labeling job %s (the labeling workflow "
                     "lists the prefix)" % JOB)
check(all(t["options"] == ["stripes", "circles"] for t in tasks), "options: %r" % tasks)

out = run("labeljob.mjs", base, "alice", RT_JOB=JOB, RT_INSTRUCTIONS=INSTRUCTIONS,
          RT_GOOD_TEXT=GOOD_TEXT, RT_BAD_TEXT=BAD_TEXT, RT_LABELS="circles,stripes",
          RT_EXPECT_END="empty")
answered = {a["task"]: a["label"] for a in out["answered"]}
check(sorted(answered) == sorted(t["id"] for t in tasks), "answered %r, open were %r"
      % (answered, [t["id"] for t in tasks]))


def answered_tasks():
    status, tasks = api(base, "/api/reviews?state=answered")
    got = {t["id"]: t["result"] for t in tasks if t["id"] in answered} if status == 200 else {}
    return got if len(got) == 2 else None


results = env.wait_for(answered_tasks, 30, "both tasks answered")
check(results == answered, "results %r, answered %r" % (results, answered))
status, st = api(base, "/api/label-jobs/" + JOB)
check(status == 200 and st["total"] == 2 and st["labeled"] == 2 and st["answers"] == 2,
      "job status: %d %r" % (status, st))
check(st["workers"].get("alice", {}).get("answers") == 2, "alice's answers: %r" % st["workers"])

# The dashboard shows the job as its status says, and its form creates another one.
dash = run("labeljob-dashboard.mjs", base, "root", RT_JOB=JOB, RT_NEW_JOB="lj-from-form",
           RT_NEW_PREFIX="unlabeled/from-form/")
status, jobs = api(base, "/api/label-jobs")
check(status == 200 and "lj-from-form" in [j["name"] for j in jobs], "list: %d %r" % (status, jobs))
status, st = api(base, "/api/label-jobs/lj-from-form")
check(status == 200 and st["kind"] == "label", "the form's job: %d %r" % (status, st))

# A verification job: its task shows the image's current label and offers "Correct (stripes)"
# first (answered with key 1), with the job's good example only.
vdir = os.path.join(env.bucket, "images_labeled_by_folder", "stripes")
os.makedirs(vdir, exist_ok=True)
subprocess.run([SYNTH, "--label", "0", "--index", "21", "-o", os.path.join(vdir, "v.png")],
               check=True, timeout=30)
status, body = api(base, "/api/label-jobs", "POST", {
    "name": "lj-verify", "prefix": "images_labeled_by_folder/", "labels": ["stripes", "circles"],
    "instructions": "Is the label right?", "good_example": "examples/%s/good.png" % JOB,
    "good_text": GOOD_TEXT, "verify": True, "workers_per_image": 1, "min_confidence": 0})
check(status == 201, "POST the verification job: %d %r" % (status, body))
if os.environ.get("RT_LJ_FIXTURE") == "1":
    subprocess.run([os.path.join(BUILD, "review-fixture"), env.data, "label-task", "lj-fixture-v",
                    "lj-verify", "images_labeled_by_folder/stripes/v.png", "stripes"], check=True,
                   timeout=60)


def verify_task():
    status, tasks = api(base, "/api/reviews?state=open")
    mine = [t for t in tasks if t["source"] == "labeling-job" and
            t["key"] == "images_labeled_by_folder/stripes/v.png"] if status == 200 else []
    return mine[0] if mine else None


vt = env.wait_for(verify_task, 90, "the task of verification job lj-verify")
check(vt["detected_label"] == "stripes" and vt["options"][0] == "stripes",
      "verification task: %r" % vt)
vout = run("labeljob.mjs", base, "alice", RT_JOB="lj-verify", RT_INSTRUCTIONS="Is the label right?",
           RT_GOOD_TEXT=GOOD_TEXT, RT_BAD_TEXT="", RT_VERIFY_LABEL="stripes", RT_LABELS="stripes",
           RT_EXPECT_END="empty", RT_ARTIFACTS_PREFIX="verify-")
check(vout["answered"][0]["key"] == "1", "the verification answer: %r" % vout)
env.stop()
print("browser label job: ok (%s; screenshots %s)"
      % (answered, ", ".join(out["screenshots"] + dash["screenshots"] + vout["screenshots"])))
