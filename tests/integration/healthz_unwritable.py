"""/healthz says whether the journal can be written (issue #8, 8): 200 while commits succeed; once
the daemon's file size limit is lowered (prlimit, the soft limit only) to the size its journal
files already have, the next commit fails with EFBIG and /healthz answers 503 "journal not
writable", the daemon stays up and logs why; when the limit is lifted, /healthz is 200 again and
the work goes on (a training check is journaled)."""
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

from rtlib import Env, check

if not shutil.which("prlimit"):
    print("prlimit (util-linux) not installed", file=sys.stderr)
    sys.exit(77)

env = Env(poll="10m", extra="http: { listen: 127.0.0.1:0 }\n")
env.start()
port = re.search(r"event=http_listening address=127\.0\.0\.1:(\d+)", env.log()).group(1)


def healthz():
    try:
        with urllib.request.urlopen("http://127.0.0.1:%s/healthz" % port, timeout=20) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_code(code, what):
    seen = []

    def ok():
        seen.append(healthz())
        return seen[-1][0] == code
    env.wait_for(ok, 20, "%s (answers: %s)" % (what, seen[-3:]))
    return seen[-1]


status, body = healthz()
check(status == 200, "healthz %d before any limit: %r" % (status, body))

data = os.path.join(env.dir, "data")
largest = max(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data)
              if f.startswith("journal.db"))
pid = env.proc.pid
subprocess.run(["prlimit", "--pid=%d" % pid, "--fsize=%d:unlimited" % largest], check=True)
status, body = wait_code(503, "503 with the journal at its size limit")
check("journal not writable" in body, "the 503 does not say why: %r" % body)
check(env.proc.poll() is None, "the daemon died at its file size limit:\n" + env.log()[-2000:])
check(re.search(r"event=health_write_failed", env.log()), "no health_write_failed in the log")

subprocess.run(["prlimit", "--pid=%d" % pid, "--fsize=unlimited:unlimited"], check=True)
wait_code(200, "200 again once the limit is lifted")
# Repeated NOT_MET checks coalesce into one execution whose check count rises: a journaled write.
checks = sum(e["checks"] for e in env.history("--workflow", "training"))
env.cli("trigger", "training")
env.wait_for(lambda: sum(e["checks"] for e in env.history("--workflow", "training")) > checks,
             30, "a training check journaled after the limit is lifted")
env.stop()
print("healthz unwritable: ok")
