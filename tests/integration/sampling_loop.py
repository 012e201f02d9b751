"""Human sampling on the real daemon (issue #8, section 6 and "Must be shown by tests").

Enable-Automatic-Human-Sampling true, Human-Sampling-Interval 3, Enable-A2I-Workflow false (so
only sampling makes tasks), a long frequency (the round is triggered): a model is trained and
deployed, nine images are detected (all accepted), `retraind trigger sampling` makes exactly
three tasks of source "sampling" (every third detection); a second trigger makes none. Two are
answered with the model's label and one with another, through `retraind review answer`; then the
agreement of the deployed version is 2 of 3 in `status --json`, the status text, /api/status and
/metrics (retraind_sampling_agreement, retraind_sampling_answered_total), and not one image was
added to images_labeled_by_folder/. Then the schedule itself: the frequency set to 2s while the
daemon runs re-arms the timer, three more detections are made, and a round that nobody triggered
samples the twelfth (and only it, however many rounds follow).
"""
import re
import time

from metricslib import api, base_url, drop, labeled_files, make_env, scrape, value
from rtlib import check

env = make_env({"Enable-A2I-Workflow": "false", "Enable-Automatic-Human-Sampling": "true",
                "Human-Sampling-Interval": 3, "Automatic-Human-Sampling-Frequency": "1h"},
               poll="2s")
env.add_images_bulk(["stripes", "circles"], 10)
env.start()
base = base_url(env)
env.wait_exec(lambda e: e["workflow"] == "training" and e["state"] == "DONE", 240,
              "the first training to deploy")
version = env.status()["active_model"]["version"]
before = labeled_files(env)

keys = drop(env, 5, 800, labels=("stripes",)) + drop(env, 4, 810, labels=("circles",))
check(len(keys) == 9, "dropped %d" % len(keys))


def accepted():
    ds = env.history("--workflow", "detection", "--limit", "1000")
    return ds if len([e for e in ds if e["state"] == "ACCEPTED"]) >= 9 else None


env.wait_for(accepted, 180, "nine detections accepted")
check(env.json("review", "list") == [], "a task without sampling: %r" % env.json("review", "list"))
st = env.status()
check(st["sampling_agreement"] == {}, "agreement before any answer: %r" % st["sampling_agreement"])

env.cli("trigger", "sampling")


def sampled():
    ts = env.json("review", "list", "--source", "sampling")
    return ts if len(ts) >= 3 else None


tasks = env.wait_for(sampled, 60, "three sampling tasks")
time.sleep(2)
tasks = env.json("review", "list")
check(len(tasks) == 3 and all(t["source"] == "sampling" for t in tasks),
      "wanted exactly three sampling tasks: %r" % tasks)
rows = api(base, "/api/detections?limit=100")
by_seq = sorted(rows, key=lambda r: r["seq"])
picked = [r["key"] for r in by_seq if r["sampled"]]
check(picked == [by_seq[i]["key"] for i in (2, 5, 8)],
      "not every third detection: sampled %r of %r" % (picked, [r["key"] for r in by_seq]))
check(sorted(t["key"] for t in tasks) == sorted(picked), "tasks %r for %r" % (tasks, picked))

# A second round finds nothing new to sample.
env.cli("trigger", "sampling")
env.wait_for(lambda: env.log_count(r"event=sampling reason=trigger") >= 2, 30, "a second round")
time.sleep(2)
check(len(env.json("review", "list")) == 3, "a second round made tasks")

# Two answers agree with the model's label, one does not.
tasks.sort(key=lambda t: t["id"])
for i, t in enumerate(tasks):
    label = t["detected_label"]
    if i == 2:
        label = next(o for o in t["options"] if o not in (label, "None of the Above"))
    env.cli("review", "answer", t["id"], label)


def compared():
    done = [e for e in env.history("--workflow", "sampling", "--limit", "100")
            if e["state"] == "DONE"]
    return done if len(done) == 3 else None


env.wait_for(compared, 60, "the three sampling executions to compare and end")
st = env.status()
ag = st["sampling_agreement"]
check(list(ag) == [version], "agreement versions %r, active %r" % (list(ag), version))
check(ag[version]["answered"] == 3 and ag[version]["agreed"] == 2 and
      abs(ag[version]["rate"] - 2 / 3) < 1e-9, "agreement: %r" % ag)
text = env.cli("status").stdout
check(re.search(r"%s\s+2/3\s+66\.7%%" % re.escape(version), text),
      "status text has no 2/3 line:\n" + text)
time.sleep(1.2)  # the daemon re-reads these figures at most once a second
check(api(base, "/api/status")["sampling_agreement"] == ag, "/api/status agreement")
s, body = scrape(base)
rate = value(s, "retraind_sampling_agreement", version=version)
check(abs(rate - 2 / 3) < 1e-4, "retraind_sampling_agreement %r:\n%s" % (rate, body))
check(value(s, "retraind_sampling_answered_total", version=version) == 3,
      "retraind_sampling_answered_total:\n" + body)
check(value(s, "retraind_review_open_tasks") == 0, "open tasks left:\n" + body)
check(value(s, "retraind_executions_total", workflow="sampling", state="DONE") == 3,
      "sampling DONE:\n" + body)

# The schedule: Automatic-Human-Sampling-Frequency set to 2s while the daemon runs re-arms the
# timer; three more detections, and a round nobody triggered samples the twelfth.
env.cli("params", "set", "Automatic-Human-Sampling-Frequency", "2s")
env.wait_log(r"event=sampling_armed period_ms=2000", 30, "the timer re-armed at 2 s")
keys2 = drop(env, 3, 820, labels=("stripes",))
check(len(keys2) == 3, "dropped %d" % len(keys2))
env.wait_for(lambda: len([e for e in env.history("--workflow", "detection", "--limit", "1000")
                          if e["state"] == "ACCEPTED"]) >= 12, 180, "twelve detections accepted")


def open_sampling():
    return [t for t in env.json("review", "list", "--source", "sampling")
            if t["state"] != "answered"] or None


scheduled = env.wait_for(open_sampling, 60, "a sampling task from a scheduled round")
check(env.log_count(r"event=sampling reason=schedule") >= 1, "no scheduled round in the log")
rows = sorted(api(base, "/api/detections?limit=100"), key=lambda r: r["seq"])
check(len(rows) == 12 and [t["key"] for t in scheduled] == [rows[11]["key"]],
      "the scheduled round sampled %r, wanted the twelfth detection %r"
      % ([t["key"] for t in scheduled], rows[-1]["key"] if rows else None))
time.sleep(4)  # two more rounds: nothing new to sample
check(len(env.json("review", "list", "--source", "sampling")) == 4,
      "later rounds sampled again: %r" % env.json("review", "list"))
env.cli("params", "set", "Enable-Automatic-Human-Sampling", "false")
env.cli("review", "answer", scheduled[0]["id"], scheduled[0]["detected_label"])

after = labeled_files(env)
check(after == before, "sampling added training images: %r" % sorted(set(after) - set(before)))
check(not [f for f in after if "humanLoopName-" in f], "a humanLoopName- copy: %r" % after)
env.stop()
print("sampling loop: ok (%s agreement %r)" % (version, ag[version]))
