"""labeling_auto - automated labeling (`label-job create --auto-label`) on the embedded default.

200 generated images of three labels the builtin engine tells apart, under unlabeled/ with names
that say nothing of their label. The job holds back all but a first sample; two reviewers
(`review answer --as`, the journal path every client shares) label the sample correctly. Then
the daemon trains the job's own model, measures a threshold on the held-out part of the sample,
labels what it is sure of and sends the rest to people, least confident first. Checks:
- at least half of the images are labeled by the machine, and those labels are right at least as
  often as the target (checked against the truth the test kept);
- status --json reports the machine labels, the threshold and the measured accuracy, which
  meets the target;
- the images sent to people after the machine's pass carry the model's confidence (below the
  threshold), which the portal serves lowest first;
- the output manifest passes the Ground Truth checker, machine lines say human-annotated "no",
  people's say "yes", and every image is in it once;
- a job whose sample has a single label gives up the machine's side and people label it all.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gt_manifest_check  # noqa: E402
from rtlib import SYNTH, Env, check, fail  # noqa: E402

LABELS = ["stripes", "circles", "checks"]
TARGET = 0.95


def make_images(env, prefix, per_label, labels):
    """Writes per_label images of each label under prefix with opaque names; returns
    {key: label}."""
    stage = tempfile.mkdtemp(prefix="stage-", dir=env.dir)
    subprocess.run([SYNTH, "--labels", ",".join(labels), "--count", str(per_label), "--dir",
                    stage], check=True, timeout=300)
    dest = os.path.join(env.bucket, prefix)
    os.makedirs(dest, exist_ok=True)
    truth = {}
    for label in labels:
        for name in sorted(os.listdir(os.path.join(stage, label))):
            opaque = hashlib.sha256((label + name).encode()).hexdigest()[:12] + ".png"
            os.rename(os.path.join(stage, label, name), os.path.join(dest, opaque))
            truth[prefix + opaque] = label
    shutil.rmtree(stage, ignore_errors=True)
    return truth


def open_tasks(env, job):
    tasks = env.json("review", "list", "--state", "open", "--source", "labeling-job",
                     "--limit", "100000")
    return [t for t in tasks if t["id"].startswith("lj-") and t.get("job", job) == job]


def answer_all(env, tasks, truth, workers=("ann", "bob")):
    for t in tasks:
        for w in workers:
            env.cli("review", "answer", t["id"], truth[t["key"]], "--as", w)


def job_status(env, name):
    return env.json("label-job", "status", name)


env = Env(poll="1h")
truth = make_images(env, "unlabeled/shapes/", 67, LABELS)  # 201 images
env.start()
env.cli("label-job", "create", "--name", "shapes", "--prefix", "unlabeled/shapes/", "--labels",
        ",".join(LABELS), "--instructions", "Which shape fills the picture?",
        "--workers-per-image", "2", "--min-confidence", "0", "--auto-label",
        "--target-accuracy", str(TARGET))
s = env.wait_for(lambda: (lambda s: s if s["total"] == len(truth) else None)(
    job_status(env, "shapes")), 60, "the job's tasks")
check(s["held"] > 0 and s["held"] < len(truth), "nothing held for the machine: %r" % s)
sample = open_tasks(env, "shapes")
check(len(sample) == len(truth) - s["held"], "open %d + held %d != %d"
      % (len(sample), s["held"], len(truth)))
answer_all(env, sample, truth)

# The machine's pass: train, start, calibrate, label.
s = env.wait_for(lambda: (lambda s: s if s.get("auto_label") else None)(
    job_status(env, "shapes")), 240, "the machine's pass")
auto = s["auto_label"]
check("skipped" not in auto, "automated labeling skipped: %r\n%s" % (auto, env.log()[-3000:]))
check(auto["measured_accuracy"] >= TARGET, "measured accuracy %r below the target" % auto)
check(auto["target_accuracy"] == TARGET, "target %r" % auto)
check(s["held"] == 0, "images still held after the pass: %r" % s)
machine = s["machine_labeled"]
check(machine >= len(truth) / 2, "only %d of %d images labeled by the machine" % (machine,
                                                                              len(truth)))
check(machine == auto["machine_labeled"], "status and stats disagree: %r" % s)

# What people get next: the model's confidence on each (the portal serves the lowest first).
rest = open_tasks(env, "shapes")
check(len(rest) == auto["sent_to_people"], "%d open, %d sent to people" % (len(rest),
                                                                       auto["sent_to_people"]))
conf = [t["confidence"] for t in rest]
check(all(c is not None and c < auto["threshold"] for c in conf),
      "a task sent to people has no confidence or is above the threshold: %r" % conf)
answer_all(env, rest, truth)

s = env.wait_for(lambda: (lambda s: s if s["state"] == "done" else None)(
    job_status(env, "shapes")), 120, "the job done")
key = s["output_manifest"]
check(key == "labeling-jobs/shapes/manifests/output/output.manifest", "manifest key %r" % key)
path = os.path.join(env.bucket, key)
problems = gt_manifest_check.check_file(path, attr="shapes", job_name="shapes")
check(not problems, "output manifest refused by the checker: %r" % problems[:5])
seen, machine_right, machine_lines, human_lines = set(), 0, 0, 0
with open(path) as f:
    for line in f:
        o = json.loads(line)
        k = o["source-ref"].split("/", 3)[3]
        check(k not in seen, "%s twice in the manifest" % k)
        seen.add(k)
        meta = o["shapes-metadata"]
        check(o["shapes"] == LABELS.index(meta["class-name"]), "class index of %s" % k)
        if meta["human-annotated"] == "no":
            machine_lines += 1
            machine_right += meta["class-name"] == truth[k]
            check(meta["confidence"] * 100 >= auto["threshold"] - 1e-9,
                  "a machine label below the threshold: %r" % o)
        else:
            human_lines += 1
            check(meta["class-name"] == truth[k], "a human label is wrong: %r" % o)
check(seen == set(truth), "manifest images differ from the job's: %d vs %d" % (len(seen),
                                                                             len(truth)))
check(machine_lines == machine, "%d machine lines, status says %d" % (machine_lines, machine))
check(machine_right / machine_lines >= TARGET, "machine labels right %d of %d"
      % (machine_right, machine_lines))
print("machine labeled %d of %d (threshold %.2f, measured %.3f on %d held-out), right %d"
      % (machine, len(truth), auto["threshold"], auto["measured_accuracy"],
         auto["validation_at_threshold"], machine_right))

# A sample with a single label cannot train a model: people label everything.
one = make_images(env, "unlabeled/one/", 60, ["stripes"])
env.cli("label-job", "create", "--name", "one", "--prefix", "unlabeled/one/", "--labels",
        "stripes,circles", "--instructions", "Which shape?", "--workers-per-image", "1",
        "--min-confidence", "0", "--auto-label")
env.wait_for(lambda: job_status(env, "one")["total"] == 60, 60, "job one's tasks")
answer_all(env, open_tasks(env, "one"), one, workers=("ann",))
s = env.wait_for(lambda: (lambda s: s if s.get("auto_label") else None)(
    job_status(env, "one")), 120, "job one's machine pass")
check("single label" in s["auto_label"].get("skipped", ""), "not skipped: %r" % s["auto_label"])
check(s["held"] == 0 and s["machine_labeled"] == 0, "after a skipped pass: %r" % s)
answer_all(env, open_tasks(env, "one"), one, workers=("ann",))
s = env.wait_for(lambda: (lambda s: s if s["state"] == "done" else None)(
    job_status(env, "one")), 60, "job one done")
check(s["labeled"] == 60 and s["labels"]["stripes"] == 60, "job one: %r" % s)
env.stop()
print("labeling auto: ok")
