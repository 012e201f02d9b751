"""The whole loop on the embedded default, through the real portal (issue #8, first bullet of
"Must be shown by tests").

1. Labeled stripes and circles; the first training deploys v1.
2. Batch A (threshold 100: every detection goes to review): clear stripes and circles, and
   checks and rings the model never saw (ambiguous to it). Each becomes an open review task.
3. Batch B with the threshold set between the confidences batch A showed: detections at or above
   it end ACCEPTED without a task, the others go to review (another batch at the same threshold
   when one falls all on one side). Every route obeys the threshold.
4. Automatic training is switched off; Minimum-Untrained-Images is set to the number of copies the
   answers will make. Alice answers every task through the HTTP portal exactly as the browser
   does (sign-in form with the rt_login_csrf cookie, session cookie, /api/session's CSRF token,
   /api/reviews/next, the image, POST .../answer with X-CSRF-Token): stripes and circles by their
   true label, the others "None of the Above".
5. Every labeled answer is copied to images_labeled_by_folder/<label>/humanLoopName-<task>-<file>
   (the same bytes as the dropped image); None of the Above copies nothing; every task has its A2I
   output.json with the A2I fields; `status --json` untrained_images rose by the copies.
6. Automatic training back on: the next training counts exactly the copies, trains on the first
   images plus the copies (each in its manifest under its label) and deploys a new version.
   The log notifier got one review.requested per task (its confidence never rounded up to the
   threshold) and one review.answered per answer.
7. detection-results/ has one line per detection (none twice) and the history of each detection
   execution went through the states of its route.
"""
import json
import os
import re
import statistics
import time

from browserlib import api
from looplib import (USERS, a2i_outputs, base_url, check_result_lines, copies, detection_steps,
                     detections, drop, loop_env, result_lines, tasks, train_first,
                     true_label)
from portal_client import Portal, answer_all
from rtlib import check, fail, parse_time

env = loop_env(min_untrained=10, threshold=100)
env.start()
base = base_url(env)
first = train_first(env)
v1 = env.status()["active_model"]["version"]
check(env.status()["untrained_images"] == 0, "untrained after the first training: %r"
      % env.status()["untrained_images"])

# ---- 2. batch A: everything to review ----
keys_a = drop(env, ["stripes", "circles", "checks", "rings"], 2, 500)


def det_by_key():
    """{key: detection row of /api/detections}."""
    status, rows = api(base, "/api/detections?limit=10000")
    check(status == 200, "/api/detections: %d %r" % (status, rows))
    out = {}
    for r in rows:
        check(r["key"] not in out, "two detections of %s: %r" % (r["key"], rows))
        out[r["key"]] = r
    return out


def routed(keys):
    d = det_by_key()
    return d if all(k in d and d[k].get("route") for k in keys) else None


rows = env.wait_for(lambda: routed(keys_a), 120, "batch A detected")
for k in keys_a:
    check(rows[k]["route"] == "review", "threshold 100: %s routed %r" % (k, rows[k]))
conf_a = sorted(rows[k]["confidence"] for k in keys_a)
print("batch A confidences:", conf_a, flush=True)
env.wait_for(lambda: len(tasks(base, "open")) == len(keys_a), 60, "a task per batch A image")

# ---- 3. batch B: the threshold between the confidences seen ----
threshold = round(statistics.median(conf_a), 2)
env.cli("params", "set", "Minimum-Label-Detection-Confidence", str(threshold))
env.wait_log(r"event=param_changed.*Minimum-Label-Detection-Confidence|"
             r"parameter\.changed.*Minimum-Label-Detection-Confidence", 30,
             "the new threshold applied")
# Training is not deterministic to the last digit: a batch whose confidences all fall on one
# side of the threshold is followed by another (up to three), all at the same threshold.
keys_b, conf_b = [], {}
for start in (600, 700, 800):
    more = drop(env, ["stripes", "circles", "checks", "rings"], 2, start)
    keys_b += more
    rows = env.wait_for(lambda: routed(keys_a + keys_b), 120, "batch B detected")
    conf_b.update({k: rows[k]["confidence"] for k in more})
    print("threshold %.2f; batch B:" % threshold, sorted(rows[k]["confidence"] for k in more),
          flush=True)
    accepted_b = [k for k in keys_b if rows[k]["route"] == "accepted"]
    review_b = [k for k in keys_b if rows[k]["route"] == "review"]
    if accepted_b and review_b:
        break
for k in keys_b:
    want = "accepted" if conf_b[k] >= threshold else "review"
    check(rows[k]["route"] == want, "%s: confidence %r, threshold %r, route %r"
          % (k, conf_b[k], threshold, rows[k]["route"]))
check(accepted_b and review_b, "batch B did not split at threshold %r: %r" % (threshold, conf_b))
review_keys = keys_a + review_b
env.wait_for(lambda: len(tasks(base, "open")) == len(review_keys), 60,
             "a task per low-confidence image")
open_tasks = {t["key"]: t for t in tasks(base, "open")}
check(sorted(open_tasks) == sorted(review_keys), "tasks for %r, wanted %r"
      % (sorted(open_tasks), sorted(review_keys)))
for k, t in open_tasks.items():
    check(t["source"] == "detection", "task %s source %r" % (t["id"], t["source"]))
    check(t["options"][-1] == "None of the Above" and "stripes" in t["options"]
          and "circles" in t["options"], "task %s options %r" % (t["id"], t["options"]))

# ---- 4. answers through the portal ----
known = ("stripes", "circles")
want_copies = [k for k in review_keys if true_label(k) in known]
env.cli("params", "set", "Enable-Automatic-Training", "false")
env.cli("params", "set", "Minimum-Untrained-Images", str(len(want_copies)))
time.sleep(2)
before = env.status()["untrained_images"]
check(before == 0, "untrained images before any answer: %r" % before)
trainings_before = len(env.history("--workflow", "training", "--state", "DONE"))

portal = Portal(base)
portal.sign_in("alice", USERS["alice"][0])
images = {}


def choose(task, data):
    images[task["id"]] = data
    check(task["image"] == "/api/reviews/%s/image" % task["id"], "image URL %r" % task["image"])
    if task.get("key") not in open_tasks:
        fail("the portal served a task with an unknown key: %r" % task)
    label = true_label(task["key"])
    return label if label in known else "None of the Above"


answered = answer_all(portal, choose)
check(len(answered) == len(review_keys), "answered %d tasks, wanted %d"
      % (len(answered), len(review_keys)))
# Least confident first.
served = [t["confidence"] for t, _, _ in answered]
check(served == sorted(served), "tasks not served least confident first: %r" % served)
for t, label, body in answered:
    check(body["id"] == t["id"] and body["label"] == label and body["state"] == "answered",
          "answer body %r" % body)
    with open(os.path.join(env.bucket, t["key"]), "rb") as f:
        check(images[t["id"]] == f.read(), "the portal served other bytes for %s" % t["id"])

# ---- 5. copies, A2I output, the untrained count ----
by_task = {t["id"]: (t, label) for t, label, _ in answered}
expected = sorted("%s/humanLoopName-%s-%s" % (label, t["id"], os.path.basename(t["key"]))
                  for t, label in by_task.values() if label != "None of the Above")
check(len(expected) == len(want_copies), "expected copies %r" % expected)
env.wait_for(lambda: copies(env) == expected, 60, "the copies %r" % expected)
for rel in expected:
    t = next(t for tid, (t, _) in by_task.items() if rel.split("/", 1)[1].startswith(
        "humanLoopName-%s-" % tid))
    with open(os.path.join(env.labeled_dir, rel), "rb") as f, \
            open(os.path.join(env.bucket, t["key"]), "rb") as g:
        check(f.read() == g.read(), "the copy %s differs from %s" % (rel, t["key"]))
outputs = env.wait_for(lambda: (lambda o: o if len(o) == len(by_task) else None)(a2i_outputs(env)),
                       60, "an A2I output per task")
folders = {}
a2i_outputs(env, folders)
created = {t["id"]: t["created_at"] for t in tasks(base)}
for task_id, (t, label) in by_task.items():
    o = outputs.get(task_id)
    check(o is not None, "no A2I output for %s (have %r)" % (task_id, sorted(outputs)))
    # The folder is the task's creation time, UTC, to the second.
    want = time.strftime("%Y/%m/%d/%H/%M/%S", time.gmtime(int(parse_time(created[task_id]))))
    check(folders[task_id] == want, "A2I output of %s under %s, created %s"
          % (task_id, folders[task_id], created[task_id]))
    check(o["humanLoopName"] == task_id, "humanLoopName %r" % o["humanLoopName"])
    check(o["flowDefinitionArn"].endswith("flow-definition/retraind-local"),
          "flowDefinitionArn %r" % o["flowDefinitionArn"])
    ic = o["inputContent"]
    check(ic["source"] == "A2I Workflow", "inputContent.source %r" % ic.get("source"))
    check(ic["taskObject"].endswith("/" + t["key"]) and ic["taskObject"].startswith("s3://"),
          "taskObject %r" % ic.get("taskObject"))
    check(ic["detectedLabel"] == t["detected_label"], "detectedLabel %r" % ic.get("detectedLabel"))
    check(abs(ic["detectedConfidenceLevel"] - t["confidence"]) < 1e-6,
          "detectedConfidenceLevel %r vs %r" % (ic.get("detectedConfidenceLevel"), t["confidence"]))
    check(ic["detectLabelRequestId"], "no detectLabelRequestId")
    ha = o["humanAnswers"]
    check(len(ha) == 1, "humanAnswers %r" % ha)
    check(ha[0]["answerContent"]["crowd-image-classifier"]["label"] == label,
          "answer %r, wanted %r" % (ha[0]["answerContent"], label))
    check(ha[0]["workerId"] == "alice", "workerId %r" % ha[0]["workerId"])
    parse_time(ha[0]["submissionTime"])
check(os.listdir(env.a2i_dir) == ["retraind-local"], "a2i-human-loop-data holds %r"
      % os.listdir(env.a2i_dir))
env.wait_for(lambda: env.status()["untrained_images"] == before + len(expected), 30,
             "untrained_images to rise by %d (is %r)" % (len(expected),
                                                         env.status()["untrained_images"]))
check(len(env.history("--workflow", "training", "--state", "DONE")) == trainings_before,
      "a training ran while automatic training was off")

# ---- 6. the next training takes the copies ----
env.cli("params", "set", "Enable-Automatic-Training", "true")
second = env.wait_exec(lambda e: e["id"] != first["id"] and e["state"] in
                       ("DONE", "FAILED", "FAILED_F1"), 300, "the second training")
check(second["state"] == "DONE", "the second training ended %s (%s)"
      % (second["state"], second.get("error")))
full = env.history(second["id"])
check_out = [s["output"] for s in full["steps"] if s["state"] == "CHECK"][-1]
check(check_out["untrained"] == len(expected), "CHECK counted %r untrained, wanted %d"
      % (check_out, len(expected)))
manifest = [s["output"] for s in full["steps"] if s["state"] == "MANIFEST"][-1]
check(manifest["images"] == 20 + len(expected), "the manifest has %r images, wanted %d"
      % (manifest, 20 + len(expected)))
with open(os.path.join(env.bucket, manifest["key"])) as f:
    entries = [json.loads(line) for line in f if line.strip()]
refs = {e["source-ref"].split("/images_labeled_by_folder/", 1)[-1]: e for e in entries}
for rel in expected:
    check(rel in refs, "the manifest %s lacks the copy %s" % (manifest["key"], rel))
    check('"class-name": "%s"' % rel.split("/")[0] in json.dumps(refs[rel]),
          "the copy %s has another label in the manifest: %r" % (rel, refs[rel]))
st = env.status()
check(st["active_model"]["version"] != v1, "still v1 active after the second training")
check(st["untrained_images"] == 0, "untrained after the second training: %r"
      % st["untrained_images"])

# ---- notifications (log driver): one per task asked, one per answer, with the copy ----
log = env.log()
asked = re.findall(r'event=review\.requested exec=\S+ notification=\d+ subject="\[retraind\] '
                   r'Review requested: (\S+) \((\S+), ([0-9.]+)%\)"', log)
check(sorted(k for k, _, _ in asked) == sorted(review_keys), "review.requested for %r, wanted %r"
      % (sorted(k for k, _, _ in asked), sorted(review_keys)))
for k, label, pct in asked:
    thr = 100 if k in keys_a else threshold
    check(float(pct) < thr, "%s was sent to review below %r but the mail says %s%%" % (k, thr, pct))
said = re.findall(r'event=review\.answered exec=\S+ notification=\d+ subject="\[retraind\] '
                  r'Review answered: (\S+) is ([^"]+)"', log)
check(sorted(said) == sorted((t["key"], label) for t, label, _ in answered),
      "review.answered %r" % said)

# ---- 7. results lines and the executions' paths ----
env.wait_for(lambda: len(result_lines(env)) >= len(keys_a + keys_b), 30,
             "every result line")
time.sleep(2)
lines = check_result_lines(env, keys_a + keys_b, "after the loop")
for k, r in lines.items():
    check(r["route"] == rows[k]["route"], "%s: line route %r, journal %r"
          % (k, r["route"], rows[k]["route"]))
    check(r["review_enabled"] is True, "review_enabled %r" % r["review_enabled"])
    check(r["model_version"] == v1, "%s detected by %r" % (k, r["model_version"]))
execs = {e["id"]: e for e in detections(env)}
check(len(execs) == len(keys_a + keys_b), "%d detection executions for %d images"
      % (len(execs), len(keys_a + keys_b)))
answer_of = {t["key"]: label for t, label, _ in answered}
for k in keys_a + keys_b:
    eid = rows[k]["exec_id"]
    steps = detection_steps(env, eid)
    if rows[k]["route"] == "accepted":
        want = ["DETECT", "ROUTE", "ACCEPTED"]
    elif answer_of[k] == "None of the Above":
        want = ["DETECT", "ROUTE", "REVIEW", "WAIT_ANSWER", "DISCARD"]
    else:
        want = ["DETECT", "ROUTE", "REVIEW", "WAIT_ANSWER", "FOLD", "DONE"]
    check(steps == want, "%s (%s): steps %r, wanted %r" % (k, eid, steps, want))
    check(execs[eid]["state"] == want[-1], "%s ended %r" % (eid, execs[eid]["state"]))
env.stop()
print("review loop: ok (%d tasks answered through the portal, %d copies, %d accepted; "
      "training %s deployed %s)" % (len(answered), len(expected), len(accepted_b), second["id"],
                                    st["active_model"]["version"]))
