"""rtlib - helpers shared by the integration tests: a throwaway data folder and config, the
retraind daemon as a child process, the CLI, synthetic images and waiting for conditions.

Everything stays under one temporary folder and on loopback; the daemon is always stopped (or
killed) when the test ends.
"""
import atexit
import email
import glob
import json
import os
import re
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

    # ---- more helpers (issue #7 tests) ----
    def add_images_bulk(self, labels, count, start=0, size=64):
        """Writes count synthetic images for each of labels (class = position in labels) with
        retraind-synth --dir into a staging folder, then renames each into the store as an
        uploader would. Names are <label>-<i>.png (not zero-padded, unlike add_images).
        Returns the store paths written."""
        stage = tempfile.mkdtemp(prefix="stage-", dir=self.dir)
        subprocess.run([SYNTH, "--labels", ",".join(labels), "--count", str(count), "--start",
                        str(start), "--size", str(size), "--dir", stage], check=True, timeout=300)
        written = []
        for label in labels:
            dest = os.path.join(self.bucket, "images_labeled_by_folder", label)
            os.makedirs(dest, exist_ok=True)
            src = os.path.join(stage, label)
            for name in sorted(os.listdir(src)):
                os.rename(os.path.join(src, name), os.path.join(dest, name))
                written.append(os.path.join(dest, name))
        shutil.rmtree(stage, ignore_errors=True)
        return written

    def image_paths(self, label):
        folder = os.path.join(self.bucket, "images_labeled_by_folder", label)
        return sorted(os.path.join(folder, n) for n in os.listdir(folder))

    def set_config(self, text):
        """Replaces the config file atomically (a reader never sees half a file)."""
        tmp = self.cfg + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.cfg)

    def config(self):
        with open(self.cfg) as f:
            return f.read()

    def log_count(self, pattern, text=None):
        """Number of matches of the regular expression pattern in the log (or in text)."""
        return len(re.findall(pattern, self.log() if text is None else text))

    def wait_log(self, pattern, timeout, what=None, count=1):
        """Waits until the log matches pattern (a regular expression) at least count times."""
        return self.wait_for(lambda: self.log_count(pattern) >= count, timeout,
                             what or "%d x %r in the log" % (count, pattern))

    def signal(self, sig):
        check(self.proc is not None and self.proc.poll() is None, "no daemon to signal")
        self.proc.send_signal(sig)

    def kill(self):
        """SIGKILLs the daemon (a crash) and waits for it; returns its exit status."""
        check(self.proc is not None, "no daemon to kill")
        self.proc.kill()
        rc = self.proc.wait(timeout=30)
        self.proc = None
        self.log_file.close()
        return rc

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


class SmtpSink:
    """tests/servers/smtp_sink.py on loopback: messages() returns what it received, oldest first.
    Skips the test (exit 77) when no python with aiosmtpd is found. Closed at exit."""

    def __init__(self, user=None, password=None):
        src = os.environ.get("RETRAIND_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
        self.dir = tempfile.mkdtemp(prefix="rt-mail-")
        args = [os.path.join(src, "tests", "servers", "smtp_sink.py"), self.dir]
        if user:
            args += ["--user", user, "--password", password]
        self.proc = None
        # Debian's python3-aiosmtpd is installed for /usr/bin/python3; a developer's python may
        # have it from pip instead.
        for py in ("/usr/bin/python3", sys.executable):
            if not os.access(py, os.X_OK):
                continue
            p = subprocess.Popen([py] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True)
            line = p.stdout.readline()
            if line.startswith("PORT "):
                self.proc = p
                self.port = int(line.split()[1])
                break
            p.wait(timeout=10)
        if not self.proc:
            print("SKIP: no python3 with aiosmtpd (Debian package python3-aiosmtpd)")
            sys.exit(77)
        atexit.register(self.close)

    def messages(self):
        out = []
        for path in glob.glob(os.path.join(self.dir, "msg-*.eml")):
            n = int(os.path.basename(path)[4:-4])
            with open(path, "rb") as f:
                out.append((n, email.message_from_bytes(f.read())))
        return [m for _, m in sorted(out, key=lambda t: t[0])]

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def smtp_notify_config(env, port, to="ml-team@example.org"):
    """Replaces env's notify list with log + smtp to 127.0.0.1:port (no auth)."""
    text = env.config().replace("notify: [ { driver: log } ]\n", "")
    text += ("notify:\n  - driver: log\n  - driver: smtp\n    url: smtp://127.0.0.1:%d\n"
             "    from: retraind@example.org\n    to: [ %s ]\n" % (port, to))
    env.set_config(text)


def mail_body(msg):
    payload = msg.get_payload(decode=True)
    return payload.decode(errors="replace") if payload else ""


def parse_time(text):
    """Seconds since the epoch of an RFC 3339 UTC time as the CLI prints it
    (2026-01-02T03:04:05Z or with .mmm fractions)."""
    import calendar
    m = re.match(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?Z$", text or "")
    check(m is not None, "not an RFC 3339 UTC time: %r" % text)
    whole = calendar.timegm(tuple(int(g) for g in m.groups()[:6]))
    return whole + (float(m.group(7)) if m.group(7) else 0.0)
