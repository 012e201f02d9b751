"""Notifications go out only after the state change that justifies them committed (issue #7, 2).

- RETRAIND_CRASH_AT=after:SWITCH kills the daemon once SWITCH did its work but before the
  transition (which carries the "deployed" notification) is written: before the restart the log
  has no training.deployed; after the restart exactly one event=training.deployed line, for the
  version that became active.
- RETRAIND_CRASH_AT=enter:STOP_OLD kills it right after the switch committed: after the restart
  the deployed notification is delivered (at least once; if twice, with the same notification
  id), and no other notification is delivered twice with different ids.
- A persist that fails (journal write lock held past the busy timeout) is retried, and the
  notification of that transition is delivered once.
The log notifier is the delivery: one event=<kind> line per delivery attempt.
"""
import os
import re
import signal
import sqlite3

from rtlib import Env, check

DEPLOYED = r"event=training\.deployed exec=(\S+)(?: notification=(\d+))? subject=(.*)$"


def run(case, check_before=None):
    env = Env(poll="10m", min_untrained=10)
    env.add_images("stripes", 5)
    env.add_images("circles", 5)
    env.start(env={"RETRAIND_CRASH_AT": case}, wait_ready=False)
    rc = env.wait_exit(120)
    check(rc == -signal.SIGKILL, "%s: exit %r, wanted SIGKILL\n%s" % (case, rc, env.log()[-2000:]))
    check("event=crash_injected at=%s" % case in env.log(), "%s: crash point not reached" % case)
    before = env.log()
    if check_before:
        check_before(before)
    env.start()
    ex = env.wait_exec(lambda e: e["state"] in ("DONE", "FAILED", "FAILED_F1"), 120,
                       "%s: the training ends" % case)
    check(ex["state"] == "DONE", "%s: ended %s (%s)" % (case, ex["state"], ex["error"]))
    version = env.status()["active_model"]["version"]
    # Wait for the delivery, then stop (a stop lets the outbox finish its round).
    env.wait_for(lambda: re.search(DEPLOYED, env.log()[len(before):], re.M), 30,
                 "%s: the deployed notification" % case)
    env.stop()
    after = env.log()[len(before):]
    return env, ex, version, before, after


# 1. The switch did not commit: nothing said "deployed" before the crash.
def nothing_deployed(before):
    check(not re.search(r"training\.deployed", before),
          "after:SWITCH: a deployed notification went out for a switch that did not commit:\n%s"
          % "\n".join(l for l in before.splitlines() if "deployed" in l))


env, ex, version, before, after = run("after:SWITCH", nothing_deployed)
got = re.findall(DEPLOYED, after, re.M)
check(len(got) == 1, "after:SWITCH: %d deployed notifications after the restart: %r"
      % (len(got), got))
check(got[0][0] == ex["id"] and version in got[0][2], "after:SWITCH: deployed %r, wanted exec %s "
      "version %s" % (got[0], ex["id"], version))
print("after:SWITCH: ok", flush=True)
env.cleanup()

# 2. The switch committed, then the crash: the notification is delivered after the restart.
env, ex, version, before, after = run("enter:STOP_OLD")
everything = before + after
got = re.findall(DEPLOYED, everything, re.M)
check(len(got) >= 1, "enter:STOP_OLD: the deployed notification was never delivered")
check(all(g[0] == ex["id"] and version in g[2] for g in got), "enter:STOP_OLD: deployed %r" % got)
check(len({g[1] for g in got}) == 1, "enter:STOP_OLD: the deployed notification was delivered "
      "under different ids (sent as two notifications): %r" % got)
# No notification of this execution was raised twice (a retried step re-adding it to the outbox).
lines = re.findall(r"event=(training\.\w+) exec=(\S+)(?: notification=(\d+))?", everything)
ids = {}
for kind, exec_id, nid in lines:
    ids.setdefault((kind, exec_id), set()).add(nid)
dup = {k: v for k, v in ids.items() if len(v) > 1}
check(not dup, "enter:STOP_OLD: notifications raised twice: %r" % dup)
print("enter:STOP_OLD: ok (%d deliveries of the deployed notification)" % len(got), flush=True)
env.cleanup()

# 3. A persist that fails (the journal's write lock held past the busy timeout, as a CLI or a
# backup could) is retried; the notification of that transition goes out once. With 1 image
# more than the last NOT_MET check saw, the next check is a new outcome whose NOT_MET transition
# carries a criteria-not-met notification; it cannot commit while the test holds the lock.
env = Env(poll="1s", min_untrained=10)
NOTICE = r"event=training\.criteria_not_met exec=(\S+)(?: notification=(\d+))?"
env.start()
env.wait_exec(lambda e: e["state"] == "NOT_MET", 30, "the first NOT_MET")
env.wait_log(NOTICE, 30, "the first criteria-not-met notification")
first_ids = {e["id"] for e in env.history("--workflow", "training")}
lock = sqlite3.connect(os.path.join(env.data, "journal.db"), isolation_level=None, timeout=30)
try:
    lock.execute("BEGIN IMMEDIATE")
    env.add_images("stripes", 1)
    env.wait_log(r"event=persist_failed exec=\S+ state=CHECK->NOT_MET", 60,
                 "the NOT_MET transition failing to persist")
finally:
    lock.execute("ROLLBACK")
    lock.close()
ex = env.wait_exec(lambda e: e["id"] not in first_ids and e["state"] == "NOT_MET", 60,
                   "the retried NOT_MET transition to commit")
env.wait_for(lambda: any(m[0] == ex["id"] for m in re.findall(NOTICE, env.log())), 30,
             "its notification")
# Another outcome afterwards is the barrier: its notification comes after any resend.
env.add_images("circles", 1)
env.wait_for(lambda: len(re.findall(NOTICE, env.log())) >= 3, 30, "the next outcome's notification")
env.stop()
got = [m for m in re.findall(NOTICE, env.log()) if m[0] == ex["id"]]
check(len(got) == 1, "the retried transition's notification was delivered %d times: %r"
      % (len(got), got))
check(env.log_count(r"event=step exec=%s state=CHECK->NOT_MET" % re.escape(ex["id"])) == 1,
      "the NOT_MET transition of %s committed more than once" % ex["id"])
print("persist retry: ok", flush=True)
print("outbox crash: ok")
