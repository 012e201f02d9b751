"""A parameter change is notified to people once per change, naming the parameter, the old and
the new value (issue #7, 1), through a real SMTP server on loopback (tests/servers/smtp_sink.py).

- `params set Minimum-Untrained-Images 7` while the daemon runs: exactly one mail, naming
  Minimum-Untrained-Images, 10 and 7;
- a restart sends no second mail for that change (a later change is used as the barrier: the
  outbox delivers in order, so once its mail is in, a resend of the first would be too);
- a change made while the daemon is stopped: one mail after it starts (7 -> 9);
- setting a parameter to the value it has is no change (no mail); a new default applied by
  SIGHUP and a `params reset` while running are changes (one mail each);
- `history --workflow parameter` shows each change as an APPLY -> DONE execution.
"""
import re
import signal

from rtlib import Env, SmtpSink, check, mail_body, smtp_notify_config

sink = SmtpSink()
env = Env(poll="10m", min_untrained=10)
smtp_notify_config(env, sink.port)
env.cli("check-config")


def param_mails(name):
    out = []
    for m in sink.messages():
        subject = str(m["Subject"] or "")
        # Other mails (criteria not met) may quote a parameter's name in their explanation.
        if "parameter" in subject.lower() and (name in subject or name in mail_body(m)):
            out.append((subject, mail_body(m)))
    return out


def names_change(mail, name, old, new):
    text = mail[0] + "\n" + mail[1]
    return (name in text and re.search(r"(^|\D)%s(\D|$)" % re.escape(old), text) and
            re.search(r"(^|\D)%s(\D|$)" % re.escape(new), text))


MIN = "Minimum-Untrained-Images"
env.start()
# The start-up check (nothing to train) mails "criteria not met": the mail path works.
env.wait_for(lambda: any("not met" in str(m["Subject"]) for m in sink.messages()), 30,
             "the criteria-not-met mail")
check(param_mails(MIN) == [], "a first start announced a parameter: %r" % param_mails(MIN))

r = env.cli("params", "set", MIN, "7")
check("no daemon answered" not in r.stdout, "the daemon was not poked: %r" % r.stdout)
env.wait_for(lambda: param_mails(MIN), 30, "the parameter-change mail")
mails = param_mails(MIN)
check(len(mails) == 1, "%d mails for one change: %r" % (len(mails), mails))
check(names_change(mails[0], MIN, "10", "7"), "the mail does not name %s, 10 and 7: %r"
      % (MIN, mails[0]))

# Restart: no second mail for the same change. The barrier: a later change's mail.
env.stop()
env.start()
env.cli("params", "set", "Human-Sampling-Interval", "5")
env.wait_for(lambda: param_mails("Human-Sampling-Interval"), 30, "the barrier change's mail")
check(len(param_mails(MIN)) == 1, "the change was announced again after a restart: %r"
      % param_mails(MIN))
check(len(param_mails("Human-Sampling-Interval")) == 1, "two mails for the barrier change")

# A change made while the daemon is stopped is announced once it starts.
env.stop()
r = env.cli("params", "set", MIN, "9")
check("no daemon answered" in r.stdout, "stopped daemon answered? %r" % r.stdout)
env.start()
env.wait_for(lambda: len(param_mails(MIN)) >= 2, 30, "the mail for the change made while stopped")
mails = param_mails(MIN)
check(names_change(mails[1], MIN, "7", "9"), "the mail does not name 7 -> 9: %r" % (mails[1],))
# Setting the value it already has is no change: no mail. (Barrier again before counting.)
env.cli("params", "set", MIN, "9")
env.cli("params", "set", "Human-Sampling-Interval", "6")
env.wait_for(lambda: len(param_mails("Human-Sampling-Interval")) >= 2, 30, "the second barrier")
check(len(param_mails(MIN)) == 2, "mails for two changes of %s: %r" % (MIN, param_mails(MIN)))

# A new default in the YAML applied by SIGHUP is a change too (Minimum-F1-Score was never set).
F1 = "Minimum-F1-Score"
env.set_config(env.config().replace("    Minimum-Untrained-Images: 10\n",
                                    "    Minimum-Untrained-Images: 10\n    %s: 0.65\n" % F1))
env.signal(signal.SIGHUP)
env.wait_for(lambda: param_mails(F1), 30, "the mail for the reloaded default")
mails = param_mails(F1)
check(names_change(mails[0], F1, "0.8", "0.65"), "the reload mail: %r" % (mails[0],))
# params reset while running: back to the YAML's 10, one mail.
env.cli("params", "reset", MIN)
env.wait_for(lambda: len(param_mails(MIN)) >= 3, 30, "the mail for the reset")
check(names_change(param_mails(MIN)[2], MIN, "9", "10"), "the reset mail: %r"
      % (param_mails(MIN)[2],))
env.cli("params", "set", "Human-Sampling-Interval", "7")
env.wait_for(lambda: len(param_mails("Human-Sampling-Interval")) >= 3, 30, "the third barrier")
check(len(param_mails(F1)) == 1, "mails for one reload: %r" % param_mails(F1))
check(len(param_mails(MIN)) == 3, "mails for three changes of %s: %r" % (MIN, param_mails(MIN)))
env.stop()

# The journal: one APPLY -> DONE execution per change.
execs = env.history("--workflow", "parameter")
check(all(e["state"] == "DONE" for e in execs), "parameter executions %r"
      % [(e["id"], e["state"]) for e in execs])
mins = [e for e in execs if any((s.get("output") or {}).get("name") == MIN for s in e["steps"])]
check(len(mins) == 3, "%d parameter executions for %s, wanted 3" % (len(mins), MIN))
for e in mins:
    check([s["state"] for s in e["steps"]] == ["APPLY", "DONE"], "steps %r" % e["steps"])
outs = sorted(((s["output"]["old"], s["output"]["new"]) for e in mins for s in e["steps"]
               if s.get("output")), key=lambda t: t[1])
check(sorted(outs) == [("10", "7"), ("7", "9"), ("9", "10")], "APPLY outputs %r" % outs)
check(len(execs) == 7, "%d parameter executions for 7 changes: %r"
      % (len(execs), [[(s.get("output") or {}).get("name") for s in e["steps"]] for e in execs]))
print("param change notify: ok (%d mails)" % len(sink.messages()))
