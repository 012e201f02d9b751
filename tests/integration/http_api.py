"""The daemon's HTTP server answers on the port it picked (issue #8, 3 and 8): /healthz and
/metrics without credentials, /api/status with a bearer token from the config (401 without, 403
with a reviewer's token), the same shape as `retraind status --json`; `retraind status` shows the
address (text and --json key "http") while the daemon runs, and the server stops with the daemon.
"""
import hashlib
import json
import re
import sys
import urllib.error
import urllib.request

from rtlib import Env, check

ADMIN = "it-admin-token-1234"
REVIEWER = "it-reviewer-token-5678"


def sha(t):
    return hashlib.sha256(t.encode()).hexdigest()


env = Env(poll="10m", extra=(
    "http:\n  listen: 127.0.0.1:0\n  tokens:\n"
    "    - { name: ci-admin, role: admin, token_sha256: %s }\n"
    "    - { name: ci-reviewer, role: reviewer, token_sha256: %s }\n" % (sha(ADMIN), sha(REVIEWER))))
env.add_images("stripes", 3)
env.start()
m = re.search(r"event=http_listening address=(127\.0\.0\.1:\d+)", env.log())
check(m, "no event=http_listening:\n" + env.log()[-2000:])
addr = m.group(1)
base = "http://" + addr


def get(path, token=None):
    req = urllib.request.Request(base + path)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


code, _, body = get("/healthz")
check(code == 200 and body.strip() == "ok", "/healthz: %d %r" % (code, body))

code, _, _ = get("/api/status")
check(code == 401, "/api/status without a token: %d" % code)
code, _, _ = get("/api/status", "not-a-token")
check(code == 401, "/api/status with a wrong token: %d" % code)
code, _, _ = get("/api/status", REVIEWER)
check(code == 403, "/api/status with a reviewer's token: %d" % code)
code, headers, body = get("/api/status", ADMIN)
check(code == 200, "/api/status with the admin token: %d %s" % (code, body))
check(headers.get("Cache-Control") == "no-store", "no Cache-Control: no-store: %r" % headers)
api = json.loads(body)
cli = env.status()
for key in ("parameters", "labels", "images_total", "untrained_images", "active_model",
            "daemon_running", "data_dir", "http"):
    check(key in api, "/api/status lacks %s: %r" % (key, api))
    check(api[key] == cli[key], "%s differs: API %r, CLI %r" % (key, api[key], cli[key]))
check(api["labels"].get("stripes") == 3, "labels: %r" % api["labels"])
check(cli["http"] == addr, "status --json http: %r, want %r" % (cli["http"], addr))
text = env.cli("status").stdout
check(("http://%s/" % addr) in text, "status text does not show the address:\n" + text)

code, _, body = get("/api/params", ADMIN)
check(code == 200 and "Minimum-F1-Score" in json.loads(body), "/api/params: %d %s" % (code, body))


def put(path, body, token=ADMIN):
    req = urllib.request.Request(base + path, data=body.encode(), method="PUT")
    req.add_header("Authorization", "Bearer " + token)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


# PUT /api/params/NAME is validated as `params set` and takes effect in the daemon; /api/status,
# asked just before (its printed body is reused while nothing changed), shows the new value at
# once, and a burst of requests right after serves no stale copy.
code, _, body = get("/api/status", ADMIN)
old_f1 = json.loads(body)["parameters"]["Minimum-F1-Score"]
check(old_f1 != 0.7, "the test needs a Minimum-F1-Score other than 0.7: %r" % old_f1)
code, body = put("/api/params/Minimum-F1-Score", '{"value": 0.7}')
seen = [json.loads(get("/api/status", ADMIN)[2])["parameters"]["Minimum-F1-Score"]
        for _ in range(20)]
check(seen == [0.7] * 20, "/api/status after the PUT answered: %r" % seen)
check(code == 200 and json.loads(body) == {"name": "Minimum-F1-Score", "value": 0.7},
      "PUT a parameter: %d %s" % (code, body))
code, body = put("/api/params/Minimum-F1-Score", '{"value": 2.5}')
check(code == 400 and "Minimum-F1-Score" in json.loads(body)["error"], "a refused value: %d %s"
      % (code, body))
code, body = put("/api/params/No-Such-Parameter", '{"value": 1}')
check(code == 404, "an unknown parameter: %d %s" % (code, body))
code, body = put("/api/params/Minimum-F1-Score", '{"value": 0.5}', REVIEWER)
check(code == 403, "a reviewer's token sets a parameter: %d" % code)
check(env.cli("params", "get", "Minimum-F1-Score").stdout.strip() == "0.7", "not stored")
env.wait_for(lambda: any(e["workflow"] != "training" for e in env.history()), 30,
             "the parameter-change execution")
code, _, body = get("/api/history?limit=5", ADMIN)
check(code == 200 and any(e["workflow"] != "training" for e in json.loads(body)),
      "/api/history: %d %s" % (code, body))
# The same JSON as `history --json` (DESIGN.md's shape; the daemon is idle, so nothing moves).
check(json.loads(body) == env.history("--limit", "5"),
      "/api/history differs from history --json:\n%s\n%s" % (body, env.history("--limit", "5")))
code, _, body = get("/api/params", ADMIN)
check(json.loads(body)["Minimum-F1-Score"] == 0.7, "/api/params after the change: %s" % body)

code, _, body = get("/api/models", ADMIN)
check(code == 200 and json.loads(body) == [], "/api/models: %d %s" % (code, body))
code, _, body = get("/api/reviews", ADMIN)
check(code == 200 and json.loads(body) == [], "/api/reviews with no task: %d %s" % (code, body))
code, _, body = get("/api/reviews?state=nonsense", ADMIN)
check(code == 400, "/api/reviews?state=nonsense: %d %s" % (code, body))
code, _, body = get("/api/reviews/next", ADMIN)
check(code == 204, "/api/reviews/next with no task: %d %s" % (code, body))
code, _, body = get("/api/reviews/rt-no-such-task/image", ADMIN)
check(code == 404, "image of a task that does not exist: %d %s" % (code, body))
code, _, body = get("/api/workflows", ADMIN)
check(code == 200 and ["CHECK", "MANIFEST"] in json.loads(body)["training"]["edges"],
      "/api/workflows: %d %s" % (code, body[:200]))

code, headers, body = get("/metrics")
check(code == 200, "/metrics: %d" % code)
check(headers.get("Content-Type", "").startswith("text/plain"), "metrics type: %r" % headers)
check('retraind_http_requests_total{route="/api/status",code="200"} 22' in body,  # 1 + 1 + 20
      "no counter of /api/status:\n" + body)
check('retraind_http_requests_total{route="/api/status",code="401"} 2' in body,
      "no counter of the refusals:\n" + body)
check("retraind_up 1" in body, "no retraind_up:\n" + body)
# A real parser reads it (Debian's python3-prometheus-client; the python3 on PATH may be
# another installation, so Debian's packages are looked up too).
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
    from prometheus_client.parser import text_string_to_metric_families
families = {f.name: f for f in text_string_to_metric_families(body)}
check("retraind_http_requests" in families, "the parser did not find the counter: %r" % families)
samples = [(s.labels, s.value) for s in families["retraind_http_requests"].samples]
check(({"route": "/api/status", "code": "200"}, 22.0) in samples, "parsed samples: %r" % samples)

env.stop()
check(env.status()["http"] is None, "status names the address of a stopped daemon")
try:
    urllib.request.urlopen(base + "/healthz", timeout=3)
    check(False, "the server still answers after the daemon stopped")
except (urllib.error.URLError, ConnectionError):
    pass
print("http api: ok")
