"""rtlib - helpers shared by the integration tests: a throwaway data folder and config, the
retraind daemon as a child process, the CLI, synthetic images and waiting for conditions.

Everything stays under one temporary folder and on loopback; the daemon is always stopped (or
killed) when the test ends.
"""
import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("RETRAIND_BIN", "build/retraind")
BUILD = os.environ.get("RETRAIND_BUILD", os.path.dirname(BIN))
SYNTH = os.path.join(BUILD, "retraind-synth")

# Label names used by the tests, in synth class order (class 0 and class 1 look different).
LABELS = ["stripes", "circles", "checks", "rings"]


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


class Env:
    """A data folder, a store folder and a config file; optionally a running daemon."""

    def __init__(self, poll="2s", min_untrained=10, min_f1=None, extra=""):
        self.dir = tempfile.mkdtemp(prefix="rt-it-")
        self.data = os.path.join(self.dir, "data")
        self.bucket = os.path.join(self.dir, "bucket")
        self.cfg = os.path.join(self.dir, "retraind.yaml")
        self.log_path = os.path.join(self.dir, "daemon.log")
        self.proc = None
        self.log_file = None
        defaults = {"Automatic-Training-Poll-Frequency": poll,
                    "Minimum-Untrained-Images": min_untrained}
        if min_f1 is not None:
            defaults["Minimum-F1-Score"] = min_f1
        lines = ["data_dir: data", "store: { driver: local, root: bucket }",
                 "parameters:", "  driver: local", "  defaults:"]
        lines += ["    %s: %s" % (k, v) for k, v in defaults.items()]
        lines += ["notify: [ { driver: log } ]", "log: { level: info }"]
        with open(self.cfg, "w") as f:
            f.write("\n".join(lines) + "\n" + extra)
        os.makedirs(os.path.join(self.bucket, "images_labeled_by_folder"), exist_ok=True)
        atexit.register(self.cleanup)

    # ---- CLI ----
    def cli(self, *args, check_rc=0, input=None):
        # -c goes right after the command word, so a "--" among args still ends options.
        r = subprocess.run([BIN, args[0], "-c", self.cfg, *args[1:]], capture_output=True, text=True,
                           timeout=60, input=input)
        if check_rc is not None and r.returncode != check_rc:
            fail("retraind %s exited %d (wanted %d)\nstdout: %s\nstderr: %s"
                 % (" ".join(args), r.returncode, check_rc, r.stdout, r.stderr))
        return r

    def json(self, *args):
        return json.loads(self.cli(*args, "--json").stdout)

    def status(self):
        return self.json("status")

    def history(self, *args):
        return self.json("history", *args)

    # ---- images ----
    def add_images(self, label, count, start=0):
        """Writes count synthetic images of label (class LABELS.index(label)) into the store,
        atomically (write beside, then rename) as an uploader would."""
        folder = os.path.join(self.bucket, "images_labeled_by_folder", label)
        os.makedirs(folder, exist_ok=True)
        cls = LABELS.index(label)
        for i in range(start, start + count):
            final = os.path.join(folder, "%s-%04d.png" % (label, i))
            tmp = os.path.join(self.dir, "upload.tmp.png")
            subprocess.run([SYNTH, "--label", str(cls), "--index", str(i), "-o", tmp],
                           check=True, timeout=30)
            os.rename(tmp, final)

    # ---- the daemon ----
    def start(self, env=None, wait_ready=True):
        check(self.proc is None, "daemon already running")
        self.log_file = open(self.log_path, "a")
        e = dict(os.environ)
        e.pop("NOTIFY_SOCKET", None)
        if env:
            e.update(env)
        self.proc = subprocess.Popen([BIN, "run", "-c", self.cfg], stdout=self.log_file,
                                     stderr=subprocess.STDOUT, env=e)
        if not wait_ready:
            return
        self.wait_for(lambda: "event=ready" in self.log() or self.proc.poll() is not None,
                      30, "daemon ready")
        check(self.proc.poll() is None, "daemon exited at start:\n" + self.log())

    def stop(self, expect_rc=0):
        if not self.proc:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail("daemon did not stop within 60 s of SIGTERM\n" + self.log()[-3000:])
        self.proc = None
        self.log_file.close()
        check(rc == expect_rc, "daemon exited %d, wanted %d\n%s" % (rc, expect_rc, self.log()[-3000:]))

    def wait_exit(self, timeout=60):
        """Waits for a daemon that is expected to die by itself (crash injection)."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail("daemon did not exit\n" + self.log()[-3000:])
        self.proc = None
        self.log_file.close()
        return rc

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_for(self, pred, timeout, what):
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = pred()
            if v:
                return v
            if self.proc is not None and self.proc.poll() is not None:
                fail("daemon died while waiting for %s:\n%s" % (what, self.log()[-4000:]))
            time.sleep(0.2)
        fail("timed out after %ds waiting for %s\nlog tail:\n%s" % (timeout, what,
                                                                    self.log()[-4000:]))

    def wait_exec(self, pred, timeout, what):
        """Waits until some training execution satisfies pred; returns it."""
        def find():
            for e in self.history("--workflow", "training"):
                if pred(e):
                    return e
            return None
        return self.wait_for(find, timeout, what)

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if os.environ.get("RT_KEEP_TMP"):
            print("kept " + self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def step_output(execution, state):
    for s in execution.get("steps", []):
        if s["state"] == state:
            return s.get("output")
    return None


def states(execution):
    return [s["state"] for s in execution.get("steps", [])]
