"""A clean stop during a training never uses up the crash-retry budget (issue #7, 3.1).

A training of a few thousand images lasts several seconds with the builtin engine. The daemon is
stopped with SIGTERM (once with SIGINT) right after the log shows the execution entered
WAIT_TRAINING, and started again, STOPS times (more than MAX_RETRAINS + 1, which used to end the
execution FAILED "the engine lost the training repeatedly"). Each restart must say
event=training_restarted ... reason=graceful_stop (counted, so the test cannot pass if the
training finished before the stop) and never event=training_lost. While it runs in flight,
`trigger training` says so. Then a crash (SIGKILL) in WAIT_TRAINING does count:
event=training_lost ... retrain=1. Finally the training reaches DONE, and its step outputs show
the restarts and the one retrain.
"""
import re
import signal

from rtlib import Env, check, states

STOPS = 5
PER_LABEL = 2500  # 5,000 images of 64x64: about 4 s of builtin training on this machine

env = Env(poll="10m", min_untrained=10)
env.add_images_bulk(["stripes", "circles"], PER_LABEL, size=64)

ENTERED = r"event=step exec=\S+ state=TRAIN->WAIT_TRAINING"
RESTARTED = r"event=training_restarted exec=\S+ version=\S+ reason=graceful_stop"
LOST = r"event=training_lost exec=\S+ version=\S+ retrain=(\d+)"


def training():
    ex = env.history("--workflow", "training")
    check(len(ex) == 1, "one training execution wanted: %r" % [(e["id"], e["state"]) for e in ex])
    return ex[0]


# Round 0 is the first start (the start-up check starts the training); every later round is a
# restart that resumes the execution stopped in WAIT_TRAINING.
for round_no in range(STOPS):
    env.start()
    env.wait_log(ENTERED, 60, "WAIT_TRAINING entered (round %d)" % round_no, count=round_no + 1)
    if round_no == 0:
        # With the daemon running and the training in flight, a trigger says so.
        r = env.cli("trigger", "training")
        check("in flight" in r.stdout and "WAIT_TRAINING" in r.stdout,
              "trigger during a training: %r" % r.stdout)
    if round_no == 2:
        # Ctrl-C is a clean stop too.
        env.signal(signal.SIGINT)
        rc = env.wait_exit(60)
        check(rc == 0, "SIGINT: exit %r\n%s" % (rc, env.log()[-2000:]))
    else:
        env.stop()  # SIGTERM, then waits for the exit, which must be 0
    log = env.log()
    check(env.log_count(RESTARTED) == round_no,
          "round %d: %d graceful restarts logged, wanted %d (did the training end before the "
          "stop?)\n%s" % (round_no, env.log_count(RESTARTED), round_no, log[-3000:]))
    check(env.log_count(LOST) == 0, "round %d: a graceful stop counted as a lost training:\n%s"
          % (round_no, log[-3000:]))
    check("event=train_done" not in log, "round %d: the training completed before the stop; "
          "make it longer (more images)" % round_no)
    ex = training()
    check(ex["state"] == "WAIT_TRAINING", "round %d: execution in %s (%s)"
          % (round_no, ex["state"], ex.get("error")))

# The last graceful stop is resumed too; then a crash in WAIT_TRAINING.
env.start()
env.wait_log(RESTARTED, 60, "the restart after the last graceful stop", count=STOPS)
env.wait_log(ENTERED, 60, "WAIT_TRAINING entered after the last restart", count=STOPS + 1)
check("event=train_done" not in env.log(), "the training completed before the crash")
rc = env.kill()
check(rc == -signal.SIGKILL, "daemon exit %r after SIGKILL" % rc)

env.start()
env.wait_log(LOST, 60, "the lost training after the crash")
env.wait_exec(lambda e: e["state"] in ("DONE", "FAILED", "FAILED_F1"), 180, "the training ends")
env.stop()

log = env.log()
ex = training()
check(ex["state"] == "DONE", "the training ended %s (%s)" % (ex["state"], ex.get("error")))
check("lost the training repeatedly" not in log, "the retry budget was used up")
restarts = env.log_count(RESTARTED)
check(restarts == STOPS, "%d graceful restarts logged, wanted %d" % (restarts, STOPS))
lost = re.findall(LOST, log)
check(lost == ["1"], "lost trainings logged with retrain=%r, wanted exactly ['1']" % lost)

# The step list tells the same story: WAIT_TRAINING went back to TRAIN STOPS + 1 times, STOPS of
# them restarts after a graceful stop and one a retrain.
outs = [s.get("output") or {} for s in ex["steps"] if s["state"] == "WAIT_TRAINING"]
n_restart = sum(1 for o in outs if o.get("restart"))
n_retrain = [o.get("retrain") for o in outs if o.get("retrain") is not None]
check(n_restart == STOPS, "WAIT_TRAINING outputs with restart: %d, wanted %d: %r"
      % (n_restart, STOPS, outs))
check(n_retrain == [1], "WAIT_TRAINING outputs with retrain: %r, wanted [1]" % n_retrain)
check(states(ex).count("TRAIN") == STOPS + 2, "steps %r" % states(ex))
check(states(ex)[-1] == "DONE", "steps %r" % states(ex))
print("graceful stop: ok (%d graceful restarts, 1 crash counted)" % STOPS)
