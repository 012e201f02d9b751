"""The daemon never says READY when it cannot write what it must (issue #7, 3.2).

At start it checks that it can write its journal, its models folder and its data folder (the
runtime folder: lock, control socket) and otherwise exits 1 with one error that names the path
and the user it runs as; no event=ready in its output and no READY=1 on NOTIFY_SOCKET.

Permissions do not stop root, and CI runs the tests as root: then the daemon runs as `nobody`
(setpriv, else runuser) with the folders it must not write owned by root and not writable by
others (the config stays world-readable). Run as another user, chmod does the same. Cases:
journal.db read-only; models folder not writable; data folder not writable; (local) store
folder not writable. A control case with
everything writable must reach READY as that user, so the set-up itself is proven sound.
"""
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time

from rtlib import BIN, Env, check

ROOT = os.geteuid() == 0
NOBODY = 65534

env = Env(poll="10m", min_untrained=10)
# A first run as ourselves creates the data folder, journal, models folder and lock file.
env.start()
env.stop()
data, models = env.data, os.path.join(env.data, "models")
journal = os.path.join(data, "journal.db")
check(os.path.isfile(journal) and os.path.isdir(models), "first run left no journal/models")

binary = os.path.abspath(BIN)
if ROOT:
    try:
        user = pwd.getpwuid(NOBODY).pw_name
    except KeyError:
        print("SKIP: no user with uid %d to run the daemon as" % NOBODY)
        sys.exit(77)
    if shutil.which("setpriv"):
        prefix = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups"]
    elif shutil.which("runuser"):
        prefix = ["runuser", "-u", user, "--"]
    else:
        print("SKIP: running as root and neither setpriv nor runuser is available to drop to "
              "%s (permissions do not stop root)" % user)
        sys.exit(77)
    os.chmod(env.dir, 0o755)
    os.chmod(env.cfg, 0o644)
    probe = subprocess.run(prefix + [binary, "--version"], capture_output=True, text=True)
    if probe.returncode != 0:
        # The build folder is not reachable by that user: run a copy (the binary links only
        # system libraries).
        copy = os.path.join(env.dir, "retraind")
        shutil.copy2(binary, copy)
        os.chmod(copy, 0o755)
        binary = copy
        probe = subprocess.run(prefix + [binary, "--version"], capture_output=True, text=True)
        check(probe.returncode == 0, "cannot run retraind as %s: %r" % (user, probe.stderr))
else:
    user = pwd.getpwuid(os.geteuid()).pw_name
    prefix = []


def own(path, writable):
    """Makes path writable (or not) by the user the daemon runs as."""
    if ROOT:
        uid, gid = (NOBODY, NOBODY) if writable else (0, 0)
        os.chown(path, uid, gid)
        mode = 0o755 if os.path.isdir(path) else 0o644
        if writable and not os.path.isdir(path):
            mode = 0o600
        os.chmod(path, mode)
    else:
        if os.path.isdir(path):
            os.chmod(path, 0o700 if writable else 0o555)
        else:
            os.chmod(path, 0o600 if writable else 0o444)


def all_writable():
    for top in (data, env.bucket):
        own(top, True)
        for dirpath, dirnames, filenames in os.walk(top):
            for n in dirnames + filenames:
                own(os.path.join(dirpath, n), True)


def run_daemon():
    """Runs the daemon as the unprivileged user with a NOTIFY_SOCKET until it exits by itself or
    says READY=1 (then it is stopped with SIGTERM), at most 30 s. Returns (rc, ready, stdout,
    stderr, notify messages); rc is the exit status of a daemon that exited by itself, else
    None."""
    sock_path = os.path.join(env.dir, "notify.sock")
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(sock_path)
    os.chmod(sock_path, 0o666)
    ns.settimeout(0.2)
    e = dict(os.environ, NOTIFY_SOCKET=sock_path)
    e.pop("JOURNAL_STREAM", None)
    e.pop("WATCHDOG_USEC", None)
    out_path, err_path = os.path.join(env.dir, "out.txt"), os.path.join(env.dir, "err.txt")
    with open(out_path, "w") as fo, open(err_path, "w") as fe:
        p = subprocess.Popen(prefix + [binary, "run", "-c", env.cfg], stdout=fo, stderr=fe, env=e)
    msgs = []

    def ready():
        return any(l.startswith("READY=1") for m in msgs for l in m.split("\n"))

    deadline = time.time() + 30
    rc = None
    while time.time() < deadline and not ready():
        rc = p.poll()
        try:
            msgs.append(ns.recv(4096).decode())
            continue
        except socket.timeout:
            pass
        if rc is not None:
            break
    if rc is None:
        p.terminate()
        p.wait(timeout=30)
    ns.setblocking(False)
    while True:
        try:
            msgs.append(ns.recv(4096).decode())
        except BlockingIOError:
            break
    ns.close()
    with open(out_path) as fo, open(err_path) as fe:
        out, err = fo.read(), fe.read()
    return rc, ready(), out, err, msgs


def refused(case, path):
    rc, ready, out, err, msgs = run_daemon()
    both = out + err
    check(not ready, "%s: READY=1 reached the notify socket: %r\nstdout: %s\nstderr: %s"
          % (case, msgs, out, err))
    check("event=ready" not in both, "%s: the daemon logged event=ready:\n%s" % (case, both))
    check(rc == 1, "%s: daemon exited %r, wanted 1\nstdout: %s\nstderr: %s" % (case, rc, out, err))
    check(path in err, "%s: stderr does not name %s: %r" % (case, path, err))
    check(user in err, "%s: stderr does not name the user %s: %r" % (case, user, err))
    # The error is said once (log lines on the way may name the path too).
    lines = [l for l in err.splitlines() if path in l and "event=" not in l]
    check(len(lines) == 1, "%s: the start-up error is not printed once: %r" % (case, err))
    check(user in lines[0], "%s: the error does not name the user: %r" % (case, lines[0]))
    print("%s: refused: %s" % (case, lines[0]), flush=True)


# Control: with everything writable the daemon reaches READY as that user.
all_writable()
rc, ready, out, err, msgs = run_daemon()
check(ready and rc is None, "control: no READY=1 as %s (exit %r)\nstdout: %s\nstderr: %s"
      % (user, rc, out, err))

# 1. The journal is read-only.
all_writable()
own(journal, False)
refused("journal read-only", "journal.db")

# 2. The models folder is not writable.
all_writable()
own(models, False)
refused("models folder not writable", models)

# 3. The data folder (lock, socket, journal's side files) is not writable.
all_writable()
own(data, False)
refused("data folder not writable", data)

# 4. The store folder (manifests are written there) is not writable.
all_writable()
own(env.bucket, False)
refused("store folder not writable", env.bucket)

all_writable()
print("unwritable journal: ok (ran as %s)" % user)
