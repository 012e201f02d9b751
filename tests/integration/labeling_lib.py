"""labeling_lib - what the labeling-job tests (labeling_*.py, issue #10) share: a daemon with
the HTTP server on a free loopback port and one API token per simulated worker (the token's name
is the worker), synthetic images under neutral names whose true label only the test knows,
simulated workers answering through GET /api/reviews/next and POST /api/reviews/ID/answer with
a set accuracy, and the job as `retraind label-job status --json` and its manifests show it.

A worker's answer to an image is a function of (seed, worker, key) only, so the same workers
give the same answers in any order and in any run.
"""
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from rtlib import SYNTH, Env, check, fail

ADMIN = "lj-admin"


def token_of(name):
    return "lj-token-%s-7f3a9c1e5b2d4086" % name


def lj_env(workers, min_untrained=10, min_f1=0.5):
    """An Env with the HTTP server on 127.0.0.1:0, one reviewer token per worker name and an
    admin token (ADMIN), the local review driver, a 1 s store scan; automatic training off (a
    test triggers it) and a long poll."""
    lines = ["http:", "  listen: 127.0.0.1:0", "  tokens:"]
    for name, role in [(ADMIN, "admin")] + [(w, "reviewer") for w in workers]:
        lines.append("    - { name: %s, role: %s, token_sha256: %s }"
                     % (name, role, hashlib.sha256(token_of(name).encode()).hexdigest()))
    lines.append("review: { driver: local }")
    env = Env(poll="1h", min_untrained=min_untrained, min_f1=min_f1, extra="\n".join(lines) + "\n")
    cfg = env.config().replace("store: { driver: local, root: bucket }",
                               "store: { driver: local, root: bucket, scan: 1s }")
    cfg = cfg.replace("  defaults:\n", "  defaults:\n    Enable-Automatic-Training: false\n")
    env.set_config(cfg)
    env.labeled_dir = os.path.join(env.bucket, "images_labeled_by_folder")
    return env


def base_url(env, after=0, timeout=30):
    """The server's address from the log (port 0 picks a free one); after: the log's length
    when this daemon was started (the log is appended to across restarts)."""
    m = env.wait_for(lambda: re.search(r"event=(?:http_)?listening address=\"?([0-9.]+:[0-9]+)",
                                       env.log()[after:]), timeout,
                     "the HTTP server's address in the log")
    return "http://" + m.group(1)


def call(base, token_name, path, method="GET", body=None):
    """One API request with token_name's bearer token: (status, parsed JSON or text or None)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers={
        "Authorization": "Bearer " + token_of(token_name), "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        raw = e.read()
        status = e.code
    text = raw.decode(errors="replace")
    try:
        return status, (json.loads(text) if text else None)
    except ValueError:
        return status, text


def call_raw(base, token_name, path):
    req = urllib.request.Request(base + path, headers={
        "Authorization": "Bearer " + token_of(token_name)})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, r.read()


# ---- images ----

def make_images(env, prefix, truth_counts, seed, size=64):
    """Synthetic images under bucket/<prefix>: truth_counts is [(label, synth class label,
    count)]; synth class label names the retraind-synth class (a label of rtlib.LABELS order
    given to --labels). Files are named img-NNNN.png in a seeded random order, so the name says
    nothing about the label. Returns {key: true label}."""
    stage = tempfile.mkdtemp(prefix="lj-stage-", dir=env.dir)
    synth_labels = []
    for _, synth, _ in truth_counts:
        if synth not in synth_labels:
            synth_labels.append(synth)
    most = max(c for _, _, c in truth_counts)
    subprocess.run([SYNTH, "--labels", ",".join(synth_labels), "--count", str(most), "--size",
                    str(size), "--dir", stage], check=True, timeout=300)
    items = []
    for label, synth, count in truth_counts:
        names = sorted(os.listdir(os.path.join(stage, synth)))
        check(len(names) >= count, "synth made %d %s images" % (len(names), synth))
        items += [(label, os.path.join(stage, synth, n)) for n in names[:count]]
    rng = random.Random("names:%s" % seed)
    rng.shuffle(items)
    folder = os.path.join(env.bucket, prefix)
    os.makedirs(folder, exist_ok=True)
    truth = {}
    for i, (label, path) in enumerate(items):
        key = prefix + "img-%04d.png" % i
        os.rename(path, os.path.join(env.bucket, key))
        truth[key] = label
    shutil.rmtree(stage, ignore_errors=True)
    return truth


def read_key(env, key):
    with open(os.path.join(env.bucket, key), "rb") as f:
        return f.read()


# ---- the job through the CLI ----

def create(env, name, prefix, labels, *more, check_rc=0):
    return env.cli("label-job", "create", "--name", name, "--prefix", prefix, "--labels",
                   ",".join(labels), "--instructions", "Pick the pattern you see.", *more,
                   check_rc=check_rc)


def status(env, name):
    r = env.cli("label-job", "status", name, "--json")
    try:
        return json.loads(r.stdout)
    except ValueError:
        fail("label-job status %s --json printed no JSON: %r" % (name, r.stdout))


def wait_total(env, name, total, timeout=30):
    """Waits until the job has listed all its images (status total == total)."""
    return env.wait_for(lambda: (lambda s: s if s["total"] == total else None)(status(env, name)),
                        timeout, "job %s to list %d images" % (name, total))


def job_execs(env):
    return [e for e in env.history("--limit", "100000") if e["workflow"] == "labeling"]


def collapse(states):
    """Consecutive repeats of a state as one (a paged LIST may enter LIST again)."""
    out = []
    for s in states:
        if not out or out[-1] != s:
            out.append(s)
    return out


# ---- simulated workers ----

class Worker:
    """A reviewer with an API token. accuracy: the share of right answers (a wrong answer is
    uniform among the other labels); constant: always answers that label (the adversary)."""

    def __init__(self, name, accuracy=None, constant=None):
        self.name = name
        self.accuracy = accuracy
        self.constant = constant
        self.answered = set()  # task ids this worker answered

    def choose(self, seed, key, truth, labels):
        if self.constant is not None:
            return self.constant
        rng = random.Random("%s:%s:%s" % (seed, self.name, key))
        if rng.random() < self.accuracy:
            return truth
        return rng.choice([lb for lb in labels if lb != truth])


class Crowd:
    """Workers asking for tasks one request at a time, the next worker picked by a seeded
    random choice (so workers go at uneven paces, a worker often asks again right after its
    answer, and the run is repeatable): each asks for its next task and answers it, until
    every worker gets 204. Records every answer as (worker, task id, key, label) in order;
    fails on anything but 200 (a 409 in the normal flow is a failure) and when the server hands
    a worker a task it answered."""

    def __init__(self, base, job, workers, truth, labels, seed):
        self.base, self.job, self.workers = base, job, workers
        self.truth, self.labels, self.seed = truth, labels, seed
        self.schedule = random.Random("schedule:%s" % seed)
        self.records = []
        self.tasks = {}  # task id -> the next-task JSON first served

    def next_task(self, w):
        status, body = call(self.base, w.name, "/api/reviews/next")
        if status == 204:
            return None
        check(status == 200, "%s: GET /api/reviews/next: %d %r" % (w.name, status, body))
        return body

    def check_task(self, w, task):
        check(task["id"] not in w.answered, "the server handed %s task %s (%s) again, after its "
              "answer" % (w.name, task["id"], task.get("key")))
        check(task.get("source") == "labeling-job", "task %s source %r" % (task["id"],
                                                                          task.get("source")))
        check(task.get("job") == self.job, "task %s job %r, wanted %r" % (task["id"],
                                                                         task.get("job"), self.job))
        check(task.get("key") in self.truth, "task %s key %r is not an image of the job"
              % (task["id"], task.get("key")))
        self.tasks.setdefault(task["id"], task)

    def answer(self, w, task_id, key):
        label = w.choose(self.seed, key, self.truth[key], self.labels)
        status, body = call(self.base, w.name, "/api/reviews/%s/answer" % task_id, "POST",
                            {"label": label})
        check(status == 200, "%s answering %s (%s) with %r: %d %r"
              % (w.name, task_id, key, label, status, body))
        w.answered.add(task_id)
        self.records.append((w.name, task_id, key, label))
        return label

    def pick(self, idle=()):
        return self.schedule.choice([w for w in self.workers if w.name not in idle])

    def run(self, limit=None, on_task=None):
        """Answers until every worker gets 204 (or limit answers were given this call)."""
        idle = set()
        given = 0
        while len(idle) < len(self.workers):
            w = self.pick(idle)
            task = self.next_task(w)
            if task is None:
                idle.add(w.name)
                continue
            self.check_task(w, task)
            if on_task:
                on_task(w, task)
            self.answer(w, task["id"], task["key"])
            given += 1
            if limit is not None and given >= limit:
                return given
        return given

    def drive(self, env, timeout=90):
        """Runs the crowd until the job is done; returns its status. Between rounds (every
        worker got 204 and the job is not done yet) it waits a little and asks again."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.run()
            st = status(env, self.job)
            if st["state"] == "done":
                return st
            check(st["state"] == "running", "job %s ended %r: %r" % (self.job, st["state"], st))
            time.sleep(0.3)
        fail("job %s not done %ds after its answers began: %r\nlog tail:\n%s"
             % (self.job, timeout, status(env, self.job), env.log()[-3000:]))

    def by_key(self):
        """{key: [(worker, label)] in answer order}."""
        out = {}
        for w, _, key, label in self.records:
            out.setdefault(key, []).append((w, label))
        return out


def majority(answers):
    """Plain majority of [(worker, label)] in answer order; a tie goes to the tied label
    answered first (what the review module's placeholder consolidation does)."""
    counts = {}
    for _, label in answers:
        counts[label] = counts.get(label, 0) + 1
    best = max(counts.values())
    for _, label in answers:
        if counts[label] == best:
            return label


# ---- manifests ----

def manifest_path(env, key):
    return os.path.join(env.bucket, key)


def source_key(ref):
    """s3://BUCKET/KEY -> KEY."""
    check(ref.startswith("s3://"), "source-ref %r" % ref)
    return ref[5:].split("/", 1)[1]


def output_labels(env, key, attr):
    """{image key: (class-name, class index, metadata)} of an output manifest."""
    out = {}
    with open(manifest_path(env, key), encoding="utf-8") as f:
        for line in f:
            o = json.loads(line)
            k = source_key(o["source-ref"])
            check(k not in out, "%s names %s twice" % (key, k))
            meta = o[attr + "-metadata"]
            out[k] = (meta["class-name"], o[attr], meta)
    return out


DATE_MEMBER = re.compile(rb'"creation-date"\s*:\s*"[^"]*"')


def without_dates(data):
    """The manifest's lines with every creation-date value emptied (bytes, in order)."""
    return [DATE_MEMBER.sub(b'"creation-date":""', line) for line in data.split(b"\n")]


def gt_check(path, **kw):
    """tests/integration/gt_manifest_check.py's check_file; fails the test on any message."""
    import gt_manifest_check
    problems = gt_manifest_check.check_file(path, **kw)
    check(not problems, "%s fails the Ground Truth checker (%r):\n%s"
          % (path, kw, "\n".join("%d: %s" % p for p in problems[:20])))


__all__ = ["ADMIN", "token_of", "lj_env", "base_url", "call", "call_raw", "make_images",
           "read_key", "create", "status", "wait_total", "job_execs", "collapse", "Worker",
           "Crowd", "majority", "manifest_path", "source_key", "output_labels", "without_dates",
           "gt_check", "Env"]
