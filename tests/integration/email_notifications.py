"""People get an email when something happens: the daemon with the smtp notifier (password from
the environment) against a real SMTP server on loopback (Debian's python3-aiosmtpd via
tests/servers/smtp_sink.py). A training is deployed; the mailbox must hold "criteria not met",
"training started", "training finished" (with the F1) and "deployed" messages to the configured
recipients, sent with the configured user, and the password never reaches the log."""
import email
import glob
import json
import os
import shutil
import subprocess
import sys

from rtlib import Env, check

SRC = os.environ.get("RETRAIND_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
py = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
mail_dir = os.path.join(os.environ.get("TMPDIR", "/tmp"), "rt-mail-%d" % os.getpid())
os.makedirs(mail_dir, exist_ok=True)
sink = subprocess.Popen([py, os.path.join(SRC, "tests", "servers", "smtp_sink.py"), mail_dir,
                         "--user", "retraind", "--password", "s3cret-Pa55"],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
line = sink.stdout.readline()
if sink.poll() == 77 or not line:
    print("SKIP: python3-aiosmtpd is not installed")
    sys.exit(77)
port = int(line.split()[1])

env = Env(poll="2s", min_untrained=10, extra="""notify:
  - driver: log
  - driver: smtp
    url: smtp://127.0.0.1:%d
    from: retraind@example.org
    to: [ ml-team@example.org, oncall@example.org ]
    username: retraind
""" % port)
# The Env header already has a notify list; keep only the one above.
with open(env.cfg) as f:
    text = f.read().replace("notify: [ { driver: log } ]\n", "")
with open(env.cfg, "w") as f:
    f.write(text)
env.cli("check-config")

env.start(env={"RETRAIND_SMTP_PASSWORD": "s3cret-Pa55"})
env.add_images("stripes", 5)
env.add_images("circles", 5)
env.wait_exec(lambda e: e["state"] == "DONE", 120, "training DONE")


def subjects():
    out = []
    for path in sorted(glob.glob(os.path.join(mail_dir, "msg-*.eml"))):
        with open(path, "rb") as f:
            msg = email.message_from_bytes(f.read())
        out.append((msg, path))
    return out


env.wait_for(lambda: any("Deployed" in m["Subject"] for m, _ in subjects()), 30, "deployed mail")
env.stop()
sink.stdin.close()
sink.wait(timeout=10)

msgs = subjects()
subs = [m["Subject"] for m, _ in msgs]
for want in ("Training criteria not met", "Training started", "Training finished", "Deployed"):
    check(any(want in s for s in subs), "no mail with subject %r in %r" % (want, subs))
finished = next(m for m, _ in msgs if "Training finished" in m["Subject"])
body = finished.get_payload(decode=True).decode()
check("F1 score" in body and "Execution: tr-" in body, "finished body %r" % body)
check(finished["From"] == "retraind@example.org", "From %r" % finished["From"])
for _, path in msgs:
    with open(path.replace(".eml", ".json")) as f:
        meta = json.load(f)
    check(meta["rcpt_tos"] == ["ml-team@example.org", "oncall@example.org"], "rcpt %r" % meta)
    check(meta["auth_user"] == "retraind", "auth user %r" % meta)
check("s3cret-Pa55" not in env.log(), "the SMTP password reached the log")
shutil.rmtree(mail_dir, ignore_errors=True)
print("email notifications: ok (%d messages)" % len(msgs))
