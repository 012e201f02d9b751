"""Repeated identical NOT_MET checks update the last execution instead of adding rows, and people
hear of the criteria not being met when the outcome changes, not at every poll (issue #7, 4).

With 3 images (Minimum-Untrained-Images 10) and a 1 s poll, after several polls `history
--workflow training` shows one NOT_MET execution whose `checks` grows and whose `last_checked_at`
advances; event=training.criteria_not_met is logged once. One more image changes the outcome: a
second NOT_MET execution and a second notification, then that one coalesces in its turn. A
restart does not reset that: the first check after it is the same outcome again. The text
`history` shows each execution's check count and last check time.
"""
import re

from rtlib import Env, check, parse_time

NOTICE = r"event=training\.criteria_not_met "
CHECK = r"event=training_check exec="

env = Env(poll="1s", min_untrained=10)
env.add_images("stripes", 2)
env.add_images("circles", 1)


def training():
    return env.history("--workflow", "training")


env.start()
env.wait_log(CHECK, 30, "four checks", count=4)
ex = training()
check(len(ex) == 1, "%d executions after 4 identical checks: %r"
      % (len(ex), [(e["id"], e["state"], e.get("checks")) for e in ex]))
first = ex[0]
check(first["state"] == "NOT_MET", "state %r" % first["state"])
check(first["checks"] >= 3, "checks %r after 4 polls" % first["checks"])
t1, n1 = first["last_checked_at"], first["checks"]
check(t1 is not None, "no last_checked_at: %r" % first)
check(parse_time(t1) >= parse_time(first["started_at"]), "last_checked_at before started_at")
env.wait_for(lambda: training()[0]["checks"] >= n1 + 2, 15, "the check count to grow")
again = training()
check(len(again) == 1, "a repeated check added an execution: %r" % [e["id"] for e in again])
check(parse_time(again[0]["last_checked_at"]) > parse_time(t1),
      "last_checked_at did not advance: %r -> %r" % (t1, again[0]["last_checked_at"]))
check(env.log_count(NOTICE) == 1, "criteria_not_met notified %d times for one outcome:\n%s"
      % (env.log_count(NOTICE), env.log()[-3000:]))

# A new outcome: one more image.
env.add_images("circles", 1, start=1)
env.wait_for(lambda: len(training()) == 2, 15, "a second NOT_MET execution")
env.wait_log(NOTICE, 10, "the second notification", count=2)
ex = training()
check(ex[0]["state"] == "NOT_MET" and ex[0]["id"] != first["id"], "newest %r" % ex[0])
n2 = ex[0]["checks"]
old_checks = ex[1]["checks"]
env.wait_for(lambda: training()[0]["checks"] >= n2 + 2, 15, "the new outcome's count to grow")
check(len(training()) == 2, "executions %r" % [e["id"] for e in training()])
check(env.log_count(NOTICE) == 2, "criteria_not_met notified %d times for two outcomes"
      % env.log_count(NOTICE))
check(training()[1]["checks"] == old_checks,
      "the older execution's count grew after the outcome changed: %r -> %r"
      % (old_checks, training()[1]["checks"]))

# A restart: the start-up check finds the same outcome again.
env.stop()
before = training()[0]["checks"]
checks_logged = env.log_count(CHECK)
env.start()
env.wait_log(CHECK, 15, "two checks after the restart", count=checks_logged + 2)
env.wait_for(lambda: training()[0]["checks"] >= before + 2, 15, "the count after the restart")
check(len(training()) == 2, "a restart added an execution: %r" % [e["id"] for e in training()])
check(env.log_count(NOTICE) == 2, "a restart notified the same outcome again")
env.stop()

# The text history says it too: the coalesced execution shows its check count and when it last
# checked (otherwise 25 polls look like one).
ex = training()
out = env.cli("history", "--workflow", "training").stdout
blocks = re.split(r"\n(?=\S)", out)
for e in ex:
    block = next((b for b in blocks if b.startswith(e["id"])), None)
    check(block is not None, "history text lacks %s:\n%s" % (e["id"], out))
    n = e["checks"]
    check(re.search(r"(\b%d\b\D{0,20}check|check\D{0,20}\b%d\b)" % (n, n), block),
          "history text does not show the %d checks of %s:\n%s" % (n, e["id"], block))
    hms = re.search(r"T(\d\d:\d\d:\d\d)", e["last_checked_at"]).group(1)
    check(hms in block, "history text does not show when %s last checked (%s):\n%s"
          % (e["id"], e["last_checked_at"], block))
print("not met coalescing: ok")
