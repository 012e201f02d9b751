"""/metrics moves with the work done (issue #8, "Must be shown by tests"): it parses as Prometheus
text with a real parser (prometheus_client), and between scrapes its counters move by exactly
the work the journal shows:

1. A training check with too few images ends NOT_MET; then images arrive, `trigger training`,
   and retraind_executions_total{workflow="training",state="DONE"} rises by one;
   retraind_active_model_f1 is the deployed version's F1.
2. Three images are detected with Enable-A2I-Workflow true and the threshold at 100 (review),
   three more with it false (accepted_low or accepted): retraind_detections_total{route} rises by
   the routes of /api/detections, retraind_executions_total{workflow="detection",...} by the
   detections that ended, retraind_review_open_tasks is the number of open tasks and
   retraind_review_oldest_open_seconds their age.
3. One task answered with `retraind review answer`: the detection ends DONE (+1) and the open
   tasks drop by one. status --json and /api/status carry the same figures.
4. After a restart the counters start from the journal: the same values.
"""
import time

from metricslib import api, base_url, drop, make_env, scrape, value
from rtlib import check

env = make_env({"Enable-A2I-Workflow": "true", "Minimum-Label-Detection-Confidence": 100},
               poll="1h")
env.start()
base = base_url(env)
env.wait_exec(lambda e: e["workflow"] == "training" and e["state"] == "NOT_MET", 60,
              "the start's check to end NOT_MET")
s0, text0 = scrape(base)
for family in ("retraind_executions_total", "retraind_detections_total",
               "retraind_review_open_tasks", "retraind_review_oldest_open_seconds",
               "retraind_detections_queued", "retraind_detections_in_flight",
               "retraind_journal_batches_total", "retraind_http_requests_total"):
    check("# TYPE %s " % family in text0 and "# HELP %s " % family in text0,
          "no HELP/TYPE for %s:\n%s" % (family, text0))
check(value(s0, "retraind_executions_total", workflow="training", state="NOT_MET") == 1,
      "training NOT_MET before: %r" % text0)
check(("retraind_executions_total", frozenset({"workflow": "detection", "state": "DONE"}.items()))
      in s0, "the end states are not all there at 0:\n" + text0)
check("token" not in text0.lower() and "password" not in text0.lower(), "a secret in /metrics?")

# 1. a training
env.add_images_bulk(["stripes", "circles"], 10)
env.cli("trigger", "training")
env.wait_exec(lambda e: e["workflow"] == "training" and e["state"] == "DONE", 240,
              "the training to deploy")
s1, text1 = scrape(base)
d = value(s1, "retraind_executions_total", workflow="training", state="DONE") - \
    value(s0, "retraind_executions_total", workflow="training", state="DONE")
check(d == 1, "training DONE moved by %r:\n%s" % (d, text1))
check(value(s1, "retraind_executions_total", workflow="training", state="NOT_MET") == 1,
      "training NOT_MET moved:\n" + text1)
st = env.status()
check(abs(value(s1, "retraind_active_model_f1") - st["active_model"]["f1"]) < 1e-6,
      "active model F1 %r, status %r" % (value(s1, "retraind_active_model_f1"), st["active_model"]))

# 2. detections: three to review, three accepted (low or not)
first = drop(env, 2, 700, labels=("stripes",)) + drop(env, 1, 710, labels=("circles",))


def routed(n):
    rows = api(base, "/api/detections?limit=1000")
    return rows if len([r for r in rows if r["route"]]) >= n else None


env.wait_for(lambda: routed(3), 120, "three detections routed")
env.cli("params", "set", "Enable-A2I-Workflow", "false")
env.wait_for(lambda: any(e["state"] == "DONE" for e in env.history("--workflow", "parameter")),
             60, "the parameter change applied")
second = drop(env, 2, 720, labels=("circles",)) + drop(env, 1, 730, labels=("stripes",))
rows = env.wait_for(lambda: routed(6), 120, "six detections routed")


def ended_detections():
    return [e for e in env.history("--workflow", "detection", "--limit", "1000")
            if e["finished_at"]]


env.wait_for(lambda: len(ended_detections()) >= 3, 60, "the accepted detections to end")
time.sleep(1.2)  # the indexed figures are re-read at most once a second
s2, text2 = scrape(base)
routes = {}
for r in rows:
    routes[r["route"]] = routes.get(r["route"], 0) + 1
check(routes.get("review", 0) >= 1, "no detection went to review: %r" % rows)
for route in ("accepted", "accepted_low", "review"):
    got = value(s2, "retraind_detections_total", route=route) - \
        value(s0, "retraind_detections_total", route=route)
    check(got == routes.get(route, 0), "detections_total{route=%s} moved by %r, the log has %r:\n%s"
          % (route, got, routes.get(route, 0), text2))
ends = {}
for e in ended_detections():
    ends[e["state"]] = ends.get(e["state"], 0) + 1
for state in ("ACCEPTED", "DONE", "DISCARD", "FAILED", "DUPLICATE"):
    got = value(s2, "retraind_executions_total", workflow="detection", state=state)
    check(got == ends.get(state, 0), "detection %s: %r, history has %r:\n%s"
          % (state, got, ends.get(state, 0), text2))
open_tasks = env.json("review", "list", "--state", "open")
check(len(open_tasks) == routes["review"], "open tasks %r for %r reviews" % (open_tasks, routes))
check(value(s2, "retraind_review_open_tasks") == len(open_tasks),
      "review_open_tasks %r, %d open:\n%s" % (value(s2, "retraind_review_open_tasks"),
                                             len(open_tasks), text2))
check(value(s2, "retraind_review_oldest_open_seconds") >= 0, "oldest age:\n" + text2)
check(value(s2, "retraind_detections_queued") == 0 and
      value(s2, "retraind_detections_in_flight") == 0, "queue not empty:\n" + text2)
check(value(s2, "retraind_executions_in_flight") == len(open_tasks),
      "executions in flight: %r, waiting for answers %d" %
      (value(s2, "retraind_executions_in_flight"), len(open_tasks)))
st = env.status()
check(st["review"]["open"] == len(open_tasks) and st["review"]["oldest_open_at"],
      "status review: %r" % st["review"])
check(st["detections"] == {"queued": 0, "in_flight": 0, "accepted": routes.get("accepted", 0),
                           "accepted_low": routes.get("accepted_low", 0),
                           "review": routes["review"]}, "status detections: %r" % st["detections"])
check(st["in_flight_total"] == len(open_tasks), "in_flight_total: %r" % st)
api_st = api(base, "/api/status")
for key in ("review", "detections", "sampling_agreement", "in_flight_total"):
    check(api_st[key] == st[key], "/api/status %s %r, CLI %r" % (key, api_st[key], st[key]))

# 3. one task answered through the CLI
task = open_tasks[0]
env.cli("review", "answer", task["id"], "stripes")
env.wait_for(lambda: any(e["state"] == "DONE" for e in ended_detections()), 60,
             "the answered detection to end DONE")
time.sleep(1.2)
s3, text3 = scrape(base)
d = value(s3, "retraind_executions_total", workflow="detection", state="DONE") - \
    value(s2, "retraind_executions_total", workflow="detection", state="DONE")
check(d == 1, "detection DONE moved by %r:\n%s" % (d, text3))
check(value(s3, "retraind_review_open_tasks") == len(open_tasks) - 1,
      "open tasks after an answer:\n" + text3)
check(value(s3, "retraind_http_requests_total", route="/metrics", code="200") >= 3,
      "the server's HTTP counters are gone:\n" + text3)
check(value(s3, "retraind_journal_batches_total") > value(s0, "retraind_journal_batches_total"),
      "journal batches did not move")

# 4. a restart starts from the journal: every counter is what the journal holds (a coalesced
# check counts as one more of its execution), whatever the start's own check adds.
env.stop()
env.start()
base = base_url(env, starts=2)
env.wait_for(lambda: not [e for e in env.history("--workflow", "training") if not e["finished_at"]]
             and env.log_count(r"event=(step exec=tr\S+ state=CHECK->NOT_MET|check_unchanged)")
             >= 2, 60, "the start's check after the restart")
s4, text4 = scrape(base)
journal = {}
for e in env.history("--limit", "100000"):
    if e["finished_at"]:
        k = (e["workflow"], e["state"])
        journal[k] = journal.get(k, 0) + e["checks"]
for key, v in s4.items():
    if key[0] == "retraind_executions_total":
        labels = dict(key[1])
        want = journal.get((labels["workflow"], labels["state"]), 0)
        check(v == want, "after a restart %r is %r, the journal has %r" % (key, v, want))
for key, v in s3.items():
    if key[0] == "retraind_detections_total":
        check(s4.get(key) == v, "after a restart %r is %r, was %r" % (key, s4.get(key), v))
env.stop()
print("metrics: ok (routes %r, detection ends %r)" % (routes, ends))
