"""The demo story (scripts/demo.py) as an integration test (poll 2s).

Issue #3: 5 images of label A -> criteria not met (5 of 10); 5 of label B -> a training starts,
its F1 is reported, the version is deployed, previous_trained_images = 10; 20 more -> a second
training, the new version takes over and the first is stopped.

Issue #8, with the demo's own images, threshold and portal client (imported from
scripts/demo.py): the clear images dropped for detection are ACCEPTED, every detection below
Minimum-Label-Detection-Confidence becomes an open review task, and at least one blend does; the
tasks are answered through the portal as a browser does (sign-in form with the rt_login_csrf
cookie, the session's CSRF token; a write without it is refused), one with None of the Above;
the answered images are copied to images_labeled_by_folder/<label>/humanLoopName-<task>-<file>
(byte for byte; none for None of the Above), each task has its A2I output.json, and the next
training takes the copies in and is deployed.
"""
import filecmp
import glob
import json
import os
import re
import subprocess
import sys

from rtlib import BIN, SYNTH, Env, check, states, step_output

sys.path.insert(0, os.path.join(os.environ.get("RETRAIND_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "scripts"))
import demo  # noqa: E402  (scripts/demo.py: the images, the threshold, the portal client)

# The demo's portal user, with a hash from `retraind passwd`.
PASSWORD = "demo-story-pw-4Zq"
r = subprocess.run([BIN, "passwd"], input=PASSWORD + "\n", capture_output=True, text=True,
                   timeout=60)
check(r.returncode == 0 and r.stdout.strip().startswith("$argon2"),
      "retraind passwd exited %d: %s %s" % (r.returncode, r.stdout, r.stderr))
env = Env(poll="2s", min_untrained=10, extra=(
    "review:\n  users:\n    - { name: %s, role: admin, password_hash: \"%s\" }\n"
    "http: { listen: \"127.0.0.1:0\" }\n" % (demo.USER, r.stdout.strip())))
env.set_config(env.config()
               .replace("store: { driver: local, root: bucket }",
                        "store: { driver: local, root: bucket, scan: 1s }")
               .replace("  defaults:\n", "  defaults:\n    Minimum-Label-Detection-Confidence: %d\n"
                        % demo.THRESHOLD))
env.start()

# 1. Five images of one label: the check runs and reports 5 of 10.
env.add_images("stripes", 5)
env.cli("trigger", "training")
e = env.wait_exec(lambda e: e["state"] == "NOT_MET" and
                  (step_output(e, "CHECK") or {}).get("images") == 5, 30, "NOT_MET with 5 images")
out = step_output(e, "CHECK")
check(out["untrained"] == 5 and out["needed"] == 10, "CHECK output %r" % out)
check(e["finished_at"] is not None and e["error"] is None, "NOT_MET execution %r" % e)
check("training.criteria_not_met" in env.log(), "no criteria-not-met notification in the log")

# 2. Five of another label: a training starts, is evaluated and deployed.
env.add_images("circles", 5)
first = env.wait_exec(lambda e: e["state"] == "DONE", 120, "first training DONE")
want = ["CHECK", "MANIFEST", "TRAIN", "WAIT_TRAINING", "EVALUATE", "START", "WAIT_RUNNING",
        "SWITCH", "STOP_OLD", "DONE"]
check(states(first) == want, "first training states %r" % states(first))
check(step_output(first, "MANIFEST")["images"] == 10, "manifest of the first training")
f1 = step_output(first, "EVALUATE")["f1"]
check(0.8 <= f1 <= 1.0, "first F1 %r" % f1)
# The training manifest is in Ground Truth's image-classification format, field by field.
import gt_manifest_check  # noqa: E402  (tests/integration/gt_manifest_check.py)
man = step_output(first, "MANIFEST")["key"]
bad = gt_manifest_check.check_file(os.path.join(env.bucket, man), job_name=first["id"])
check(not bad, "the training manifest %s is not Ground Truth's format: %r" % (man, bad[:5]))
# The engine's evaluation is published under evaluation/<execution>/ in the store.
import json, os
ev_path = os.path.join(env.bucket, "evaluation", first["id"], "evaluation.json")
env.wait_for(lambda: os.path.exists(ev_path), 10, "the evaluation in the store")
with open(ev_path) as f:
    evaluation = json.load(f)
check(abs(evaluation["f1"] - f1) < 1e-9, "evaluation f1 %r vs %r" % (evaluation.get("f1"), f1))
st = env.status()
check(st["previous_trained_images"] == 10, "previous_trained_images %r" % st["previous_trained_images"])
check(st["untrained_images"] == 0, "untrained %r" % st["untrained_images"])
check(st["labels"] == {"stripes": 5, "circles": 5}, "labels %r" % st["labels"])
v1 = st["active_model"]["version"]
check(st["active_model"]["images"] == 10 and abs(st["active_model"]["f1"] - f1) < 1e-9,
      "active model %r" % st["active_model"])
for ev in ("training.started", "training.finished", "training.deployed"):
    check(ev in env.log(), "no %s notification in the log" % ev)

# 3. Twenty more (as the demo: three test images per label): a second training; the new
# version takes over and the first is stopped.
# Made aside and renamed in together: added one by one, a 2 s check could start a training on
# the first ten of them.
env.add_images_bulk(["stripes", "circles"], 10, start=5, size=128)
second = env.wait_exec(lambda e: e["state"] == "DONE" and e["id"] != first["id"], 120,
                       "second training DONE")
check(step_output(second, "MANIFEST")["images"] == 30, "manifest of the second training")
check(step_output(second, "SWITCH")["previous"] == v1, "SWITCH output %r" % step_output(second, "SWITCH"))
check(step_output(second, "STOP_OLD")["stopped"] == v1, "STOP_OLD output")
st = env.status()
check(st["active_model"]["version"] != v1, "the active version did not change")
check(st["previous_trained_images"] == 30, "previous_trained_images %r" % st["previous_trained_images"])
check(st["in_flight"] == [], "in flight %r" % st["in_flight"])

v2 = st["active_model"]["version"]

# 4. Detection: the demo's clear images and blends, each renamed into the folder.
DETECT = os.path.join(env.bucket, "images_for_detection")
os.makedirs(DETECT, exist_ok=True)
truth = {}
for label, i in demo.CLEAR:
    truth[demo.clear_name(label, i)] = (label, ["--label", str(demo.LABELS[label])], i)
for i, pct in demo.BLENDS:
    truth[demo.blend_name(i, pct)] = ("stripes", ["--label", "0", "--blend", "1:%d" % pct], i)
for name, (_, args, i) in truth.items():
    tmp = os.path.join(env.dir, "upload.tmp.png")
    subprocess.run([SYNTH, *args, "--index", str(i), "-o", tmp], check=True, timeout=30)
    os.rename(tmp, os.path.join(DETECT, name))
truth = {"images_for_detection/" + n: v[0] for n, v in truth.items()}

st = env.status()
check(st.get("http"), "status --json has no http address: %r" % st.get("http"))
check(re.search(r"event=http_listening address=\"?%s" % re.escape(st["http"]), env.log()),
      "status's http %r is not the logged address" % st["http"])
portal = demo.Portal("http://" + st["http"])
portal.sign_in(demo.USER, PASSWORD)
check(any(c.name == "rt_session" for c in portal.jar), "no session cookie after signing in")


def detections():
    code, rows = portal.api("/api/detections?limit=100")
    check(code == 200, "/api/detections answered %d: %r" % (code, rows))
    done = {r["key"]: r for r in rows if r["key"] in truth and r["route"]}
    return done if len(done) == len(truth) else None


dets = env.wait_for(detections, 120, "every dropped image detected")
for key, d in dets.items():
    check(d["model_version"] == v2, "%s detected by %r, not %s" % (key, d["model_version"], v2))
    if "/blend-" not in key:
        check(d["route"] == "accepted" and d["label"] == truth[key] and
              d["confidence"] >= demo.THRESHOLD, "a clear image was not accepted: %r" % d)
    else:
        want = "review" if d["confidence"] < demo.THRESHOLD else "accepted"
        check(d["route"] == want, "%s: confidence %.1f routed %s"
              % (key, d["confidence"], d["route"]))
reviewed = sorted(k for k, d in dets.items() if d["route"] == "review")
if not reviewed:
    # The model was sure of every blend: the demo then looks for its line (find_unsure).
    key, d = demo.find_unsure(portal, truth, env.bucket, env.dir)
    check(key and d["route"] == "review" and d["confidence"] < demo.THRESHOLD,
          "no blend went to review: %r" % {k: (d["label"], d["confidence"])
                                           for k, d in dets.items()})
    dets[key] = d
    reviewed = [key]


def open_tasks():
    got = [t for t in env.json("review", "list") if t["key"] in reviewed]
    return got if len(got) == len(reviewed) else None


tasks = {t["key"]: t for t in env.wait_for(open_tasks, 60, "a review task per reviewed image")}
for key, t in tasks.items():
    check(t["state"] == "open" and t["source"] == "detection", "task %r" % t)
    check(t["options"] == ["circles", "stripes", demo.NONE], "options %r" % t["options"])
    check(t["detected_label"] == dets[key]["label"] and t["id"] == dets[key]["task"],
          "task %r vs detection %r" % (t, dets[key]))

# 5. Answered through the portal as the review page does. A write without the session's CSRF
# token is refused first.
some = next(iter(tasks.values()))
code, _, _ = portal.call("/api/reviews/%s/answer" % some["id"],
                         json.dumps({"label": "stripes"}).encode(),
                         {"Content-Type": "application/json"})
check(code == 403, "an answer without X-CSRF-Token: %d" % code)
answers = demo.answers_for({k: truth[k] for k in reviewed})
done = demo.answer_in_portal(portal, answers)
check(sorted(t["id"] for t in done) == sorted(t["id"] for t in tasks.values()),
      "the portal handed out %r, the open tasks were %r" % ([t["id"] for t in done],
                                                            [t["id"] for t in tasks.values()]))
check(portal.api("/api/reviews/next")[0] == 204, "a task is left after answering them all")
if len(reviewed) > 1:
    check(list(answers.values()).count(demo.NONE) == 1, "answers %r" % answers)
after = {t["key"]: t for t in env.json("review", "list") if t["key"] in reviewed}
for key, t in after.items():
    check(t["state"] == "answered" and t["result"] == answers[key] and
          t["answers"] == 1, "task after answering %r (answered %r)" % (t, answers[key]))

# 6. The copies: humanLoopName-<task>-<file>, the same bytes; nothing for None of the Above.
labeled = os.path.join(env.bucket, "images_labeled_by_folder")


def finished():
    ex = {e["id"]: e for e in env.history("--workflow", "detection", "--limit", "1000")}
    ends = {k: ex.get(t["exec_id"]) for k, t in tasks.items()}
    return ends if all(e and e["finished_at"] for e in ends.values()) else None


copies = []
for key, e in env.wait_for(finished, 60, "the answered detections to finish").items():
    name = "humanLoopName-%s-%s" % (tasks[key]["id"], key.rsplit("/", 1)[-1])
    if answers[key] == demo.NONE:
        check(e["state"] == "DISCARD", "None of the Above ended %s" % e["state"])
        check(not glob.glob(os.path.join(labeled, "*", name)), "a copy for None of the Above")
    else:
        check(e["state"] == "DONE" and states(e)[-2:] == ["FOLD", "DONE"],
              "an answered detection ended %s: %r" % (e["state"], states(e)))
        path = os.path.join(labeled, answers[key], name)
        check(step_output(e, "FOLD")["copy"].endswith("images_labeled_by_folder/%s/%s"
                                                      % (answers[key], name)),
              "FOLD output %r" % step_output(e, "FOLD"))
        check(os.path.exists(path) and filecmp.cmp(path, os.path.join(env.bucket, key),
                                                   shallow=False), "no exact copy at " + path)
        copies.append(path)
    outs = glob.glob(os.path.join(env.bucket, "**", "retraind-local", "**", tasks[key]["id"],
                                  "output.json"), recursive=True)
    check(len(outs) == 1, "A2I output of %s: %r" % (tasks[key]["id"], outs))
    with open(outs[0]) as f:
        out = json.load(f)
    said = out["humanAnswers"][0]["answerContent"]["crowd-image-classifier"]["label"]
    check(out["humanLoopName"] == tasks[key]["id"] and said == answers[key], "A2I output %r" % out)
check(copies, "no copy at all (answers %r)" % answers)

# 7. The next training takes the copies in and is deployed.
env.cli("params", "set", "Minimum-Untrained-Images", str(len(copies)))
env.cli("trigger", "training")
third = env.wait_exec(lambda e: e["id"] not in (first["id"], second["id"]) and
                      e["state"] not in ("NOT_MET",) and e["finished_at"], 120,
                      "the training after the review")
check(third["state"] == "DONE", "the training after the review ended %s (%s)"
      % (third["state"], third["error"]))
check(step_output(third, "CHECK")["untrained"] == len(copies),
      "CHECK %r" % step_output(third, "CHECK"))
check(step_output(third, "MANIFEST")["images"] == 30 + len(copies),
      "manifest of the third training %r" % step_output(third, "MANIFEST"))
check(step_output(third, "SWITCH")["previous"] == v2, "SWITCH %r" % step_output(third, "SWITCH"))
st = env.status()
check(st["active_model"]["version"] not in (v1, v2), "the active version did not change")
check(st["previous_trained_images"] == 30 + len(copies), "previous_trained_images %r"
      % st["previous_trained_images"])
check(st["labels"] == {"stripes": 15 + len(copies), "circles": 15}, "labels %r" % st["labels"])

# The daemon keeps answering and stops cleanly.
env.stop()
print("demo story: ok (first F1 %.3f, versions %s -> %s -> %s; %d of %d blends reviewed, %d "
      "copied)" % (f1, v1, v2, st["active_model"]["version"], len(reviewed), len(demo.BLENDS),
                   len(copies)))
