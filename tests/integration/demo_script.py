"""The README's first command without a terminal: scripts/demo.py (what scripts/demo.sh runs
after building) tells the whole story into a pipe and exits 0: the trainings, the detections,
the review tasks answered through the portal, the copies and the training after the review.
demo_story.py checks the same story step by step; this one checks the script itself."""
import os
import re
import subprocess
import sys
import tempfile

from rtlib import check

SRC = os.environ.get("RETRAIND_SRC", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "..", ".."))
with tempfile.TemporaryDirectory(prefix="rt-demo-") as tmp:
    r = subprocess.run([sys.executable, os.path.join(SRC, "scripts", "demo.py"),
                        os.path.join(tmp, "demo")], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=600)
    out = r.stdout
    check(r.returncode == 0, "demo.py exited %d\nstdout:\n%s\nstderr:\n%s"
          % (r.returncode, out[-6000:], r.stderr[-3000:]))
    check("\033[" not in out, "colour codes in the output of a pipe")
    for want in ("-> criteria not met: 5 of 10 new images", "== 4. Detection",
                 "-> REVIEW", "No terminal: the demo answers", "== 6. The answers become",
                 "humanLoopName-rt-de-", "== 7. The next training takes them in",
                 "retraind stopped (exit 0)"):
        check(want in out, "no %r in the story:\n%s" % (want, out[-6000:]))
    check(re.search(r"-> DONE: \d+ images \(\d+ from the review\)", out),
          "the training after the review was not deployed:\n" + out[-4000:])
    check(re.search(r"http://127\.0\.0\.1:\d+/review", out), "no portal address")
    # The password printed is the one whose hash the config holds; it is never in the log.
    pw = re.search(r"password:\s+(\S+)", out).group(1)
    with open(os.path.join(tmp, "demo", "retraind.yaml")) as f:
        check(pw not in f.read(), "the password itself is in the config")
    with open(os.path.join(tmp, "demo", "retraind.log")) as f:
        check(pw not in f.read(), "the password reached the log")
print("demo script: ok")
