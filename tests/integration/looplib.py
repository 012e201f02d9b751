"""looplib - what the whole-loop tests (review_loop, review_refusals, review_crash) share: a
daemon with the HTTP server, portal users and the local review driver; images dropped into
images_for_detection/ as an uploader does; the detection-results/ lines, the copies, the A2I
output files and the detection executions as the store and the CLI show them."""
import glob
import hashlib
import json
import os
import shutil
import subprocess
import tempfile

from browserlib import TOKEN, base_url, password_hash
from rtlib import SYNTH, Env, check

USERS = {"alice": ("alice-pw-7Qx", "reviewer"), "bob": ("bob-pw-9Lm", "reviewer"),
         "root": ("root-pw-3Kd", "admin")}


def loop_env(min_untrained=10, workers_per_image=1, threshold=70, scan="1s", flush="1s"):
    """An Env with the HTTP server on a free loopback port, USERS, the API token, the local
    review driver, a 1 s store scan and results flush."""
    users = "\n".join('    - { name: %s, password_hash: "%s", role: %s }'
                      % (n, password_hash(pw), role) for n, (pw, role) in USERS.items())
    extra = ("http:\n  listen: 127.0.0.1:0\n  tokens:\n    - { name: it, role: admin, "
             "token_sha256: %s }\nreview:\n  driver: local\n  workers_per_image: %d\n"
             "  users:\n%s\ndetection: { concurrency: 2, results_flush: %s }\n"
             % (hashlib.sha256(TOKEN.encode()).hexdigest(), workers_per_image, users, flush))
    env = Env(poll="1s", min_untrained=min_untrained, extra=extra)
    cfg = env.config().replace("store: { driver: local, root: bucket }",
                               "store: { driver: local, root: bucket, scan: %s }" % scan)
    cfg = cfg.replace("  defaults:\n", "  defaults:\n    Enable-A2I-Workflow: true\n"
                      "    Minimum-Label-Detection-Confidence: %s\n" % threshold)
    env.set_config(cfg)
    env.detect_dir = os.path.join(env.bucket, "images_for_detection")
    env.results_dir = os.path.join(env.bucket, "detection-results")
    env.labeled_dir = os.path.join(env.bucket, "images_labeled_by_folder")
    env.a2i_dir = os.path.join(env.bucket, "a2i-human-loop-data")
    return env


def train_first(env, per_label=10, timeout=240):
    """Labeled stripes and circles, then waits for the first training to deploy."""
    env.add_images_bulk(["stripes", "circles"], per_label)
    first = env.wait_exec(lambda e: e["state"] in ("DONE", "FAILED", "FAILED_F1", "NOT_DEPLOYED"),
                          timeout, "the first training")
    check(first["state"] == "DONE", "the first training ended %s (%s)"
          % (first["state"], first.get("error")))
    return first


def drop(env, labels, count, start):
    """count synthetic images of each label (synth class = position in rtlib.LABELS order of the
    labels given) renamed into images_for_detection/ as <label>-<n>.png; returns their keys."""
    stage = tempfile.mkdtemp(prefix="drop-", dir=env.dir)
    subprocess.run([SYNTH, "--labels", ",".join(labels), "--count", str(count), "--start",
                    str(start), "--size", "64", "--dir", stage], check=True, timeout=300)
    os.makedirs(env.detect_dir, exist_ok=True)
    keys = []
    for label in labels:
        for name in sorted(os.listdir(os.path.join(stage, label))):
            new = "%s-%s" % (label, name) if not name.startswith(label) else name
            os.rename(os.path.join(stage, label, name), os.path.join(env.detect_dir, new))
            keys.append("images_for_detection/" + new)
    shutil.rmtree(stage, ignore_errors=True)
    return keys


def true_label(key):
    """The synth class a dropped image was made of (its file name starts with the label)."""
    return os.path.basename(key).split("-")[0]


def result_lines(env):
    lines = []
    for path in sorted(glob.glob(os.path.join(env.results_dir, "**", "*.jsonl"), recursive=True)):
        with open(path) as f:
            for line in f:
                lines.append(json.loads(line))
    return lines


def check_result_lines(env, keys, what):
    """Exactly one result line per key (no line for another key, none twice)."""
    lines = result_lines(env)
    got = [r["key"] for r in lines]
    dup = sorted({k for k in got if got.count(k) > 1})
    check(not dup, "%s: result lines written twice for %r" % (what, dup[:5]))
    missing = sorted(set(keys) - set(got))
    check(not missing, "%s: no result line for %r" % (what, missing[:5]))
    extra = sorted(set(got) - set(keys))
    check(not extra, "%s: result lines for images never dropped: %r" % (what, extra[:5]))
    return {r["key"]: r for r in lines}


def detections(env):
    return env.history("--workflow", "detection", "--limit", "100000")


def detection_steps(env, exec_id):
    return [s["state"] for s in env.history(exec_id)["steps"]]


def copies(env):
    """Every humanLoopName- copy under images_labeled_by_folder/: {path relative to it}."""
    out = []
    for path in glob.glob(os.path.join(env.labeled_dir, "*", "humanLoopName-*")):
        out.append(os.path.relpath(path, env.labeled_dir))
    return sorted(out)


def a2i_outputs(env, paths=None):
    """{task id: parsed output.json} under a2i-human-loop-data/retraind-local/Y/M/D/h/m/s/ID/
    (paths, when given a dict, gets {task id: "Y/M/D/h/m/s"})."""
    out = {}
    pattern = os.path.join(env.a2i_dir, "retraind-local", "*", "*", "*", "*", "*", "*", "*",
                           "output.json")
    for path in glob.glob(pattern):
        task = os.path.basename(os.path.dirname(path))
        check(task not in out, "two A2I output files for task %s" % task)
        with open(path) as f:
            out[task] = json.load(f)
        if paths is not None:
            rel = os.path.relpath(os.path.dirname(os.path.dirname(path)),
                                  os.path.join(env.a2i_dir, "retraind-local"))
            paths[task] = rel
    return out


def tasks(base, state=None):
    from browserlib import api
    status, body = api(base, "/api/reviews?limit=10000" + ("&state=" + state if state else ""))
    check(status == 200, "/api/reviews: %d %r" % (status, body))
    return body


__all__ = ["USERS", "loop_env", "train_first", "drop", "true_label", "result_lines",
           "check_result_lines", "detections", "detection_steps", "copies", "a2i_outputs",
           "tasks", "base_url"]
