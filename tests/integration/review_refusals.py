"""The portal's refusals against the real daemon with real tasks (issue #8, "Refused: ...").

A model is deployed, Minimum-Label-Detection-Confidence is 100 and review.workers_per_image 2,
so two dropped images become two open tasks that each need two reviewers. Then, with Python's
http.client as a browser (portal_client.py):

- without credentials: the pages redirect to /login, the API answers 401 (a wrong bearer token
  too, even beside a valid session cookie);
- a POST without the X-CSRF-Token header, or with a wrong one, is 403 and records nothing;
- a task id that is not a task is 404 for the image and the answer: unknown ids, the image's own
  store key, dot segments, %2e%2e, ..%2f, encoded slashes, /api/reviews/../../etc/passwd/image;
- a label that is not one of the options is 400 (and records nothing);
- the same reviewer answering twice is 409; a second reviewer's answer completes the task
  (state answered, the copy made); a third answer is 409; on the other task two reviewers
  disagree, the tie goes to the first answer, and the A2I output holds both answers in order;
- a reviewer on admin pages and the admin API: / redirects to /review, /api/status,
  /api/history, /api/params are 403 and PUT /api/params/NAME is 403 and changes nothing (an
  admin session gets 200 for the same calls);
- sign-in is rate-limited: after five wrong passwords the next attempt is 429 with Retry-After,
  and the right password is still refused while the limit holds; sessions made before keep
  working, and signing out needs the CSRF token and ends the session for good.
"""
import os
import time

from browserlib import TOKEN
from looplib import (USERS, a2i_outputs, base_url, copies, drop, loop_env, tasks,
                     train_first)
from portal_client import Portal
from rtlib import check

env = loop_env(min_untrained=10, threshold=100, workers_per_image=2)
env.start()
base = base_url(env)
train_first(env)
keys = drop(env, ["stripes", "circles"], 1, 700)
env.wait_for(lambda: len(tasks(base, "open")) == 2, 120, "two open tasks")
open_tasks = tasks(base, "open")
task = open_tasks[0]
tid = task["id"]
check(task["answers_needed"] == 2, "answers_needed %r with workers_per_image 2"
      % task.get("answers_needed"))


def expect(resp, status, what):
    check(resp.status == status, "%s: %d, wanted %d (%s)" % (what, resp.status, status,
                                                            resp.text[:300]))
    return resp


def task_now(task_id):
    return next(t for t in tasks(base) if t["id"] == task_id)


# ---- without credentials ----
anon = Portal(base)
for page in ("/", "/review"):
    r = anon.get(page)
    check(r.status in (302, 303) and r.headers.get("location", "").startswith("/login"),
          "GET %s without a session: %r" % (page, r))
for path in ("/api/session", "/api/reviews/next", "/api/reviews", "/api/reviews/%s/image" % tid,
             "/api/status", "/api/history", "/api/params", "/api/detections"):
    expect(anon.get(path), 401, "GET %s without credentials" % path)
expect(anon.post_json("/api/reviews/%s/answer" % tid, {"label": "stripes"}, csrf=False), 401,
       "an answer without credentials")
expect(anon.request("PUT", "/api/params/Minimum-Untrained-Images", '{"value": 3}',
                    {"Content-Type": "application/json"}), 401, "PUT params without credentials")
expect(anon.get("/api/status", headers={"Authorization": "Bearer wrong-" + TOKEN}), 401,
       "a wrong bearer token")

# ---- a reviewer's session ----
alice = Portal(base)
alice.sign_in("alice", USERS["alice"][0])
expect(alice.get("/api/status", headers={"Authorization": "Bearer nope"}), 401,
       "a wrong bearer token beside a valid session")
served = alice.next_task()
check(served is not None and served["id"] in [t["id"] for t in open_tasks],
      "alice was served %r" % served)
tid = served["id"]
image = alice.image(served)[0]
with open(os.path.join(env.bucket, served["key"]), "rb") as f:
    check(image == f.read(), "the image is not the task's")

# CSRF.
path = "/api/reviews/%s/answer" % tid
expect(alice.post_json(path, {"label": "stripes"}, csrf=False), 403, "an answer without CSRF")
expect(alice.post_json(path, {"label": "stripes"}, csrf="0" * 64), 403, "a wrong CSRF token")
expect(alice.post_json(path, {"label": "stripes"}, csrf=alice.csrf[:-1]), 403,
       "a truncated CSRF token")
other = Portal(base)
other.sign_in("bob", USERS["bob"][0])
expect(alice.post_json(path, {"label": "stripes"}, csrf=other.csrf), 403,
       "another session's CSRF token")
check(task_now(tid)["answers"] == 0, "a refused POST recorded an answer: %r" % task_now(tid))

# Ids that are not tasks, and path traversal.
secret = os.path.join(env.dir, "secret.txt")
with open(secret, "w") as f:
    f.write("not for reviewers")
store_key = served["key"]
bad_paths = [
    "/api/reviews/rt-de-20000101t000000z-9999/image",
    "/api/reviews/nosuchtask/image",
    "/api/reviews/%s/image" % store_key.replace("/", "%2f"),
    "/api/reviews/%s/image" % store_key.replace("/", "%2F"),
    "/api/reviews/%s/image" % os.path.basename(store_key),
    "/api/reviews/..%2f..%2f..%2fetc%2fpasswd/image",
    "/api/reviews/..%2F..%2Fsecret.txt/image",
    "/api/reviews/%2e%2e/image",
    "/api/reviews/%2e%2e%2f%2e%2e%2fetc%2fpasswd/image",
    "/api/reviews/../../etc/passwd/image",
    "/api/reviews/./%s/image" % tid,
    "/api/reviews/%s/../%s/image" % (tid, tid),
    "/api/reviews/%s%%2f..%%2f%s/image" % (tid, tid),
    "/api/reviews/..%%5c..%%5c%s/image" % tid,
    "/api/reviews/%s%%00/image" % tid,
    "/api/reviews//image",
    "/api/reviews/%s/image/.." % tid,
]
for p in bad_paths:
    r = alice.get(p)
    expect(r, 404, "GET %s" % p)
    check(b"root:" not in r.body and b"not for reviewers" not in r.body and image not in r.body,
          "GET %s leaked a file: %r" % (p, r.body[:100]))
for p in ("/api/reviews/nosuchtask/answer", "/api/reviews/..%%2f%s/answer" % tid,
          "/api/reviews/%2e%2e/answer", "/api/reviews/../../etc/passwd/answer",
          "/api/reviews/%s/answer" % store_key.replace("/", "%2f")):
    expect(alice.post_json(p, {"label": "stripes"}), 404, "POST %s" % p)

# Labels that are not options.
for label in ("dogs", "", "Stripes", "stripes ", "none of the above", "../stripes",
              "stripes/../circles"):
    r = expect(alice.post_json(path, {"label": label}), 400, "label %r" % label)
expect(alice.post_json(path, {"nolabel": "stripes"}), 400, "a body without a label")
expect(alice.post_json(path, {"label": 3}), 400, "a label that is a number")
check(task_now(tid)["answers"] == 0, "a refused label recorded an answer: %r" % task_now(tid))

# One answer per reviewer; the second reviewer completes the task.
label = os.path.basename(served["key"]).split("-")[0]
r = expect(alice.post_json(path, {"label": label}), 200, "alice's answer")
check(r.json()["state"] == "open", "one answer of two: state %r" % r.json())
r = expect(alice.post_json(path, {"label": label}), 409, "alice's second answer")
r = expect(alice.post_json(path, {"label": "None of the Above"}), 409,
           "alice's second answer with another label")
t = task_now(tid)
check(t["answers"] == 1 and t["state"] == "open", "after alice: %r" % t)
again = alice.next_task()
check(again is None or again["id"] != tid, "alice was served the task she answered: %r" % again)
check(not copies(env), "a copy before the task has its answers: %r" % copies(env))
bob = other
nxt = bob.next_task()
check(nxt is not None, "bob was served nothing")
r = expect(bob.post_json(path, {"label": label}), 200, "bob's answer")
check(r.json()["state"] == "answered", "two answers of two: state %r" % r.json())
env.wait_for(lambda: any(("humanLoopName-%s-" % tid) in c for c in copies(env)), 60,
             "the copy of %s" % tid)
root = Portal(base)
root.sign_in("root", USERS["root"][0])
expect(root.post_json(path, {"label": label}), 409, "a third answer to a complete task")
expect(bob.post_json(path, {"label": label}), 409, "bob again on a complete task")
t = task_now(tid)
check(t["answers"] == 2 and t["state"] == "answered" and t["result"] == label,
      "the completed task: %r" % t)
time.sleep(1.5)
check(len([c for c in copies(env) if ("humanLoopName-%s-" % tid) in c]) == 1,
      "copies of %s: %r" % (tid, copies(env)))

# The other task, two reviewers disagreeing: a tie goes to the label answered first; the A2I
# output holds both answers in answer order.
other_id = next(t["id"] for t in open_tasks if t["id"] != tid)
other_key = next(t["key"] for t in open_tasks if t["id"] == other_id)
first_label = os.path.basename(other_key).split("-")[0]
p2 = "/api/reviews/%s/answer" % other_id
expect(alice.post_json(p2, {"label": first_label}), 200, "alice on the second task")
r = expect(bob.post_json(p2, {"label": "None of the Above"}), 200, "bob on the second task")
check(r.json()["state"] == "answered", "the second task: %r" % r.json())
t2 = task_now(other_id)
check(t2["result"] == first_label, "a tie went to %r, not the first answer %r"
      % (t2["result"], first_label))
env.wait_for(lambda: any(("humanLoopName-%s-" % other_id) in c for c in copies(env)), 60,
             "the copy of the tied task")
outs = env.wait_for(lambda: (lambda o: o if other_id in o else None)(a2i_outputs(env)), 60,
                    "the A2I output of the tied task")
ha = outs[other_id]["humanAnswers"]
check([(a["workerId"], a["answerContent"]["crowd-image-classifier"]["label"]) for a in ha]
      == [("alice", first_label), ("bob", "None of the Above")], "humanAnswers %r" % ha)
check([(a["workerId"], a["answerContent"]["crowd-image-classifier"]["label"])
       for a in outs[tid]["humanAnswers"]] == [("alice", label), ("bob", label)],
      "humanAnswers of %s: %r" % (tid, outs[tid]["humanAnswers"]))

# ---- a reviewer on admin pages and the admin API ----
r = alice.get("/")
check(r.status in (302, 303) and r.headers.get("location") == "/review",
      "a reviewer on /: %r" % r)
expect(alice.get("/review"), 200, "a reviewer on /review")
for p in ("/api/status", "/api/history", "/api/params", "/api/workflows", "/api/models",
          "/api/detections", "/api/history/%s" % served.get("exec_id", "x")):
    expect(alice.get(p), 403, "a reviewer on GET %s" % p)
before = env.cli("params", "get", "Minimum-Untrained-Images").stdout.strip()
expect(alice.put_json("/api/params/Minimum-Untrained-Images", {"value": 3}), 403,
       "a reviewer's PUT /api/params")
check(env.cli("params", "get", "Minimum-Untrained-Images").stdout.strip() == before,
      "a refused PUT changed the parameter")
# The same calls with an admin session pass (so the 403s above are about the role).
for p in ("/api/status", "/api/params"):
    expect(root.get(p), 200, "an admin on GET %s" % p)
expect(root.get("/"), 200, "an admin on /")
r = expect(root.put_json("/api/params/Minimum-Untrained-Images", {"value": 12}), 200,
           "an admin's PUT /api/params")
check(env.cli("params", "get", "Minimum-Untrained-Images").stdout.strip() == "12",
      "the admin's PUT did not change the parameter")
expect(root.request("PUT", "/api/params/Minimum-Untrained-Images", '{"value": 13}',
                    {"Content-Type": "application/json"}), 403, "an admin's PUT without CSRF")

# ---- sign-in rate limit (last: it also limits the address for 15 minutes) ----
mallory = Portal(base)
codes = []
for i in range(5):
    codes.append(mallory.post_login("bob", "wrong-%d" % i).status)
check(codes == [401] * 5, "five wrong passwords: %r" % codes)
r = mallory.post_login("bob", "wrong-6")
check(r.status == 429, "the sixth attempt: %r" % r)
retry = r.headers.get("retry-after", "")
check(retry.isdigit() and 0 < int(retry) <= 15 * 60, "Retry-After %r" % retry)
r = Portal(base).post_login("bob", USERS["bob"][0])
check(r.status == 429 and "rt_session" not in [c.split("=")[0] for c in r.set_cookies],
      "the right password while limited: %r" % r)
r = Portal(base).post_login("root", USERS["root"][0])
check(r.status == 429, "another user from the limited address: %r" % r)
# Sessions made before are unaffected; signing out needs the CSRF token and ends the session.
expect(alice.get("/api/session"), 200, "alice's session after the limit")
expect(alice.request("POST", "/logout", "", {"Content-Type": "application/x-www-form-urlencoded"}),
       403, "a sign-out without CSRF")
expect(alice.get("/api/session"), 200, "alice's session after a refused sign-out")
old_session = alice.cookies["rt_session"]
r = alice.request("POST", "/logout", "", {"X-CSRF-Token": alice.csrf})
check(r.status == 303 and r.headers.get("location") == "/login", "sign-out: %r" % r)
alice.cookies["rt_session"] = old_session  # the old cookie sent again: the session is gone
expect(alice.get("/api/session"), 401, "alice's session after signing out")
env.stop()
print("review refusals: ok")
