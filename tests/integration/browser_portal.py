"""A real browser labels images in the review portal (issue #8, "Must be shown by tests").

A model is trained and deployed on stripes and circles; Minimum-Label-Detection-Confidence is set
to 100 so every detection goes to review; two images are dropped into images_for_detection/.
Headless Chromium (tests/browser/portal.mjs) signs in as a reviewer through the form, presses
Start working, answers the first task with the key of `circles` and Enter, the second with `None
of the Above`, and sees the empty state. Then the store must hold the copy
images_labeled_by_folder/circles/humanLoopName-<task>-<file> for the first task and no copy at all
for the second, and both tasks are answered. Screenshots: $RETRAIND_BUILD/artifacts/browser/.
"""
import glob
import os
import shutil
import subprocess
import tempfile

from browserlib import api, base_url, check, make_env, run
from rtlib import LABELS, SYNTH

env = make_env(poll="2s", min_untrained=10)
env.add_images_bulk(["stripes", "circles"], 10)
env.start()
first = env.wait_exec(lambda e: e["state"] in ("DONE", "FAILED", "FAILED_F1"), 180,
                      "the first training")
check(first["state"] == "DONE", "first training ended %s (%s)" % (first["state"], first["error"]))
env.cli("params", "set", "Minimum-Label-Detection-Confidence", "100")
base = base_url(env)

# Two images for detection, renamed into the folder as an uploader would.
stage = tempfile.mkdtemp(prefix="stage-", dir=env.dir)
subprocess.run([SYNTH, "--labels", "stripes,circles", "--count", "1", "--start", "500", "--size",
                "64", "--dir", stage], check=True, timeout=120)
dest = os.path.join(env.bucket, "images_for_detection")
os.makedirs(dest, exist_ok=True)
dropped = []
for label in ("stripes", "circles"):
    for name in os.listdir(os.path.join(stage, label)):
        os.rename(os.path.join(stage, label, name), os.path.join(dest, name))
        dropped.append(name)
shutil.rmtree(stage, ignore_errors=True)


def open_tasks():
    status, tasks = api(base, "/api/reviews?state=open")
    return tasks if status == 200 and isinstance(tasks, list) and len(tasks) >= 2 else None


tasks = env.wait_for(open_tasks, 120, "two open review tasks")
check(len(tasks) == 2, "%d open tasks, wanted 2: %r" % (len(tasks), tasks))
for t in tasks:
    check("circles" in t["options"] and "None of the Above" in t["options"],
          "task %s options %r" % (t["id"], t["options"]))

out = run("portal.mjs", base, "alice", RT_LABELS="circles,None of the Above", RT_EXPECT_END="empty")
answered = {a["task"]: a["label"] for a in out["answered"]}
check(sorted(answered) == sorted(t["id"] for t in tasks), "answered %r, open were %r"
      % (answered, [t["id"] for t in tasks]))

labeled = os.path.join(env.bucket, "images_labeled_by_folder")
by_label = {v: k for k, v in answered.items()}
copy_task, none_task = by_label["circles"], by_label["None of the Above"]
copies = env.wait_for(lambda: glob.glob(os.path.join(labeled, "circles",
                                                     "humanLoopName-%s-*" % copy_task)),
                      60, "the copy of task %s in circles/" % copy_task)
check(len(copies) == 1, "copies of %s: %r" % (copy_task, copies))
check(os.path.basename(copies[0]).split("-%s-" % copy_task, 1)[1] in dropped,
      "copy %s is not named after a dropped file %r" % (copies[0], dropped))
env.wait_for(lambda: all(t["state"] == "answered" for t in api(base, "/api/reviews")[1]
                         if t["id"] in answered), 60, "both tasks answered")
check(not glob.glob(os.path.join(labeled, "*", "*-%s-*" % none_task)),
      "None of the Above copied task %s" % none_task)
env.stop()
print("browser portal: ok (%s -> circles copied, %s -> None of the Above not copied; "
      "screenshots %s)" % (copy_task, none_task, ", ".join(out["screenshots"])))
