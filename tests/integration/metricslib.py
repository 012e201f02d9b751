"""metricslib - what metrics.py and sampling_loop.py share: a daemon with the HTTP server on a
free loopback port and an admin token, /metrics parsed by a real Prometheus parser, and images
dropped for detection the way an uploader does (written beside, renamed into the folder)."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

from rtlib import SYNTH, Env, check

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # the python3 on PATH may not be Debian's
    sys.path.append("/usr/lib/python3/dist-packages")
    from prometheus_client.parser import text_string_to_metric_families

TOKEN = "it-metrics-token-0a9b8c7d6e5f"


def make_env(defaults, poll="2s", min_untrained=10):
    env = Env(poll=poll, min_untrained=min_untrained, extra=(
        "http:\n  listen: 127.0.0.1:0\n  tokens:\n    - { name: it, role: admin, token_sha256: %s }\n"
        "detection: { concurrency: 2, results_flush: 1s }\n"
        % hashlib.sha256(TOKEN.encode()).hexdigest()))
    cfg = env.config().replace("store: { driver: local, root: bucket }",
                               "store: { driver: local, root: bucket, scan: 1s }")
    cfg = cfg.replace("  defaults:\n", "  defaults:\n" + "".join(
        "    %s: %s\n" % (k, v) for k, v in defaults.items()))
    env.set_config(cfg)
    return env


def base_url(env, starts=1):
    """The address the server took at the starts-th start (the log is appended to)."""
    m = env.wait_for(lambda: (lambda a: a if len(a) >= starts else None)(re.findall(
        r"event=http_listening address=(127\.0\.0\.1:\d+)", env.log())), 30,
        "the HTTP server's address")
    return "http://" + m[starts - 1]


def get(base, path, token=TOKEN):
    req = urllib.request.Request(base + path)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def api(base, path):
    code, body = get(base, path)
    check(code == 200, "%s: %d %s" % (path, code, body[:300]))
    return json.loads(body)


def scrape(base):
    """/metrics without credentials, parsed: {(name, frozenset(labels)): value} and the text."""
    code, body = get(base, "/metrics", token=None)
    check(code == 200, "/metrics: %d %s" % (code, body[:300]))
    out = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out, body


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def drop(env, count, start, labels=("stripes", "circles")):
    """count images of each label into images_for_detection/; returns their keys."""
    stage = tempfile.mkdtemp(prefix="drop-", dir=env.dir)
    subprocess.run([SYNTH, "--labels", ",".join(labels), "--count", str(count), "--start",
                    str(start), "--size", "64", "--dir", stage], check=True, timeout=300)
    dest = os.path.join(env.bucket, "images_for_detection")
    os.makedirs(dest, exist_ok=True)
    keys = []
    for label in labels:
        for name in sorted(os.listdir(os.path.join(stage, label))):
            new = "%s-%s" % (label, name)
            os.rename(os.path.join(stage, label, name), os.path.join(dest, new))
            keys.append("images_for_detection/" + new)
    shutil.rmtree(stage, ignore_errors=True)
    return keys


def labeled_files(env):
    root = os.path.join(env.bucket, "images_labeled_by_folder")
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, files in os.walk(root) for f in files)
