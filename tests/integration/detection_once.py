"""Detection on the embedded default (issue #8, section 1): images dropped into
images_for_detection/ are detected once each, their results appear in detection-results/ as JSON
lines, and neither a restart nor a kill -9 in the middle of detection loses or duplicates a
detection or a result line. Enable-A2I-Workflow is false (no review driver is needed).

1. Twelve images are dropped before any model exists: they are queued and wait (no detection).
2. A version is trained and deployed: the twelve are detected, each once, and flushed.
3. A restart detects nothing again (same key and etag).
4. Forty more images are dropped; the daemon is killed with SIGKILL while they are detected,
   restarted, and every image ends with exactly one detection and exactly one result line.
5. An image rewritten with other content (new etag) is a new detection; one rewritten with the
   same bytes is detected as a duplicate (same content hash), and no result line is added.
"""
import glob
import json
import os
import shutil
import subprocess
import tempfile
import time

from rtlib import SYNTH, Env, check

env = Env(poll="1s", min_untrained=10)
cfg = env.config().replace("store: { driver: local, root: bucket }",
                           "store: { driver: local, root: bucket, scan: 1s }")
cfg = cfg.replace("  defaults:\n", "  defaults:\n    Enable-A2I-Workflow: false\n"
                  "    Minimum-Label-Detection-Confidence: 70\n")
cfg += "detection: { concurrency: 4, results_flush: 1s }\n"
env.set_config(cfg)

DETECT = os.path.join(env.bucket, "images_for_detection")
RESULTS = os.path.join(env.bucket, "detection-results")


def drop(count, start, labels=("stripes", "circles")):
    """Writes images with synth into a staging folder and renames them into the folder."""
    stage = tempfile.mkdtemp(prefix="drop-", dir=env.dir)
    subprocess.run([SYNTH, "--labels", ",".join(labels), "--count", str(count), "--start",
                    str(start), "--size", "64", "--dir", stage], check=True, timeout=300)
    os.makedirs(DETECT, exist_ok=True)
    names = []
    for label in labels:
        for name in sorted(os.listdir(os.path.join(stage, label))):
            new = "%s-%s" % (label, name)
            os.rename(os.path.join(stage, label, name), os.path.join(DETECT, new))
            names.append("images_for_detection/" + new)
    shutil.rmtree(stage, ignore_errors=True)
    return names


def detections():
    return env.history("--workflow", "detection", "--limit", "100000")


def result_lines():
    lines = []
    for path in glob.glob(os.path.join(RESULTS, "**", "*.jsonl"), recursive=True):
        with open(path) as f:
            for line in f:
                lines.append(json.loads(line))
    return lines


def check_once(names, what):
    lines = result_lines()
    keys = [r["key"] for r in lines]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    check(not dup, "%s: duplicated result lines for %r" % (what, dup[:5]))
    missing = sorted(set(names) - set(keys))
    check(not missing, "%s: no result line for %r" % (what, missing[:5]))
    for r in lines:
        for field in ("key", "etag", "content_hash", "request_id", "label", "confidence",
                      "threshold", "route", "model_version", "review_enabled", "sampled",
                      "detected_at", "execution_id"):
            check(field in r, "%s: result line without %s: %r" % (what, field, r))
        check(r["route"] in ("accepted", "accepted_low"), "route %r with review off" % r["route"])
        check(r["review_enabled"] is False, "review_enabled %r" % r["review_enabled"])
        check(r["threshold"] == 70, "threshold %r" % r["threshold"])
    return lines


# 1. No model yet: images wait.
first = drop(6, 0)
env.start()
env.wait_log(r"event=detection_waiting", 30, "the dispatcher waiting for a model")
time.sleep(3)
check(not detections(), "detections ran without a model: %r" % detections()[:2])

# 2. A model is deployed: the queued images are detected.
env.add_images_bulk(["stripes", "circles"], 10)
env.wait_exec(lambda e: e["state"] == "DONE", 180, "the first training to deploy")
env.wait_for(lambda: len(result_lines()) >= 12, 60, "12 result lines")
lines = check_once(first, "after the first deployment")
check(len(lines) == 12, "%d result lines, wanted 12" % len(lines))
files = glob.glob(os.path.join(RESULTS, "*", "*", "*", "*", "*.jsonl"))
check(files, "no detection-results/YYYY/MM/DD/HH/<id>.jsonl file")
for f in files:
    check(os.path.basename(f).startswith("de"), "results file not named by a detection id: %s" % f)

# 3. A restart detects nothing again.
env.stop()
env.start()
time.sleep(4)
check(len([e for e in detections()]) == 12, "a restart detected again: %d executions"
      % len(detections()))
check(len(result_lines()) == 12, "a restart added result lines")

# 4. kill -9 in the middle of detection.
second = drop(20, 100)
env.wait_log(r"event=detected .*key=\"?images_for_detection/\w+-\w+-1\d\d", 60,
             "detection of the second drop to begin")
env.kill()
env.start()
allnames = first + second
env.wait_for(lambda: len(result_lines()) >= len(allnames), 120, "every result line after a crash")
time.sleep(2.5)
lines = check_once(allnames, "after kill -9")
check(len(lines) == len(allnames), "%d result lines for %d images" % (len(lines), len(allnames)))
accepted = [e for e in detections() if e["state"] == "ACCEPTED"]
check(len(accepted) == len(allnames), "%d detections ended ACCEPTED for %d images"
      % (len(accepted), len(allnames)))

# 4b. Crashes at the two points of a detection: after DETECT's work before its transition (the
# row is still queued, the execution unwritten) and after ROUTE's work before the result is
# written (the execution resumes in ROUTE).
for point, start in (("after:DETECT", 200), ("after:ROUTE", 300)):
    env.stop()
    more = drop(5, start)
    env.start(env={"RETRAIND_CRASH_AT": point}, wait_ready=False)
    rc = env.wait_exit(60)
    check(rc != 0, "the crash at %s did not happen (exit %d)" % (point, rc))
    env.start()
    allnames += more
    env.wait_for(lambda: len(result_lines()) >= len(allnames), 120,
                 "every result line after a crash at %s" % point)
    time.sleep(2.5)
    lines = check_once(allnames, "after a crash at " + point)
    check(len(lines) == len(allnames), "%s: %d result lines for %d images"
          % (point, len(lines), len(allnames)))
    accepted = [e for e in detections() if e["state"] == "ACCEPTED"]
    check(len(accepted) == len(allnames), "%s: %d detections ended ACCEPTED for %d images"
          % (point, len(accepted), len(allnames)))

# 5. New content under the same key is a new detection; the same bytes again are a duplicate.
target = os.path.join(DETECT, os.path.basename(first[0]))
with open(target, "rb") as f:
    same = f.read()
tmp = target + ".tmp"
with open(tmp, "wb") as f:
    f.write(same)
os.utime(tmp, (time.time() + 5, time.time() + 5))
os.rename(tmp, target)  # same bytes, new mtime: a new etag
env.wait_for(lambda: any(e["state"] == "DUPLICATE" for e in detections()), 30,
             "a DUPLICATE detection for the same bytes under a new etag")
time.sleep(2.5)
check(len(result_lines()) == len(allnames), "a duplicate added a result line")
env.stop()
print("ok: %d images, each detected once, %d result lines" % (len(allnames), len(result_lines())))
