"""The daemon under a (fake) systemd and a live operator:

- with NOTIFY_SOCKET and WATCHDOG_USEC set, it sends READY=1, pets the watchdog, and sends
  STOPPING=1 on SIGTERM (a datagram socket on loopback stands in for systemd);
- a parameter set with the CLI while it runs is applied without a restart: the poll timer is
  re-armed with the new period, and Enable-Automatic-Training=false stops new checks;
- SIGHUP reloads the config (a new default parameter applies); a broken config on SIGHUP is
  reported and the daemon keeps running;
- a second daemon on the same data folder is refused.
"""
import os
import re
import signal
import socket
import subprocess
import threading

from rtlib import BIN, Env, check

env = Env(poll="10m", min_untrained=10)
sock_path = os.path.join(env.dir, "notify.sock")
ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
ns.bind(sock_path)
messages = []


def reader():
    # Read continuously as systemd does: an unread notify socket fills after a few datagrams
    # and the sender would block.
    while True:
        messages.append(ns.recv(4096).decode())


threading.Thread(target=reader, daemon=True).start()


env.start(env={"NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "400000"})
# Start-up check with nothing to train.
env.wait_exec(lambda e: e["state"] == "NOT_MET", 30, "the start-up check")


def got(prefix):
    return any(line.startswith(prefix) for m in messages for line in m.split("\n"))


env.wait_for(lambda: got("READY=1"), 10, "READY=1")
env.wait_for(lambda: sum(m.count("WATCHDOG=1") for m in messages) >= 2 or got("NOPE"), 10,
             "two watchdog pets")

def checks_total():
    # An unchanged NOT_MET check counts on the last execution instead of adding one.
    return sum(e.get("checks", 1) for e in env.history("--workflow", "training"))


# A live parameter change re-arms the poll timer (period 1 s): checks start coming.
n_checks = checks_total()
r = env.cli("params", "set", "Automatic-Training-Poll-Frequency", "1s")
check("no daemon answered" not in r.stdout, "the daemon was not poked: %r" % r.stdout)
env.wait_for(lambda: "name=Automatic-Training-Poll-Frequency" in env.log(), 5, "param_changed")
env.wait_for(lambda: "period_ms=1000" in env.log(), 5, "poll re-armed")
env.wait_for(lambda: checks_total() >= n_checks + 2, 15, "checks at the new period")

# Disabled: no new checks start.
env.cli("params", "set", "Enable-Automatic-Training", "false")
env.wait_for(lambda: "name=Enable-Automatic-Training" in env.log(), 5, "disable applied")
# A check that started before the change was applied still runs to its end; wait for that
# (every training execution in a final state) rather than for a guessed time. The daemon creates
# an execution in the journal on the loop before it can apply the change, so none is missed.
FINAL = {"NOT_MET", "DONE", "FAILED_F1", "FAILED"}
env.wait_for(lambda: all(e["state"] in FINAL for e in env.history("--workflow", "training")), 15,
             "the check in flight to finish")
before = checks_total()
env.wait_for(lambda: env.log().count("reason=disabled") >= 2, 10, "two skipped polls")
check(checks_total() == before, "a check ran while disabled")

# SIGHUP: a new default from the file applies (Minimum-F1-Score was never set with the CLI).
with open(env.cfg) as f:
    cfg = f.read()
with open(env.cfg, "w") as f:
    f.write(cfg.replace("    Minimum-Untrained-Images: 10\n",
                        "    Minimum-Untrained-Images: 10\n    Minimum-F1-Score: 0.6\n"))
env.proc.send_signal(signal.SIGHUP)
env.wait_for(lambda: "event=reloaded" in env.log(), 10, "reload")
env.wait_for(lambda: re.search(r"name=Minimum-F1-Score from=0.8 to=0.6", env.log()), 10,
             "new default applied")
check(env.cli("params", "get", "Minimum-F1-Score").stdout == "0.6\n", "params get after reload")

# A later CLI change reloads the parameters; the reloaded default must stay.
env.cli("params", "set", "Human-Sampling-Interval", "5")
env.wait_for(lambda: "name=Human-Sampling-Interval" in env.log(), 5, "a later change applied")
check("Minimum-F1-Score from=0.6" not in env.log(), "the reloaded default was lost")

# A broken file on SIGHUP is reported; the daemon keeps running with what it had.
with open(env.cfg, "w") as f:
    f.write(cfg + "bogus_key: 1\n")
env.proc.send_signal(signal.SIGHUP)
env.wait_for(lambda: "event=reload_failed" in env.log(), 10, "reload failure reported")
check(env.proc.poll() is None, "the daemon died on a bad reload")
check("bogus_key" in env.log(), "the reload error does not name the key")
with open(env.cfg, "w") as f:
    f.write(cfg)

# A second daemon on the same data folder is refused.
r = subprocess.run([BIN, "run", "-c", env.cfg], capture_output=True, text=True, timeout=30)
check(r.returncode == 1 and "already running" in r.stderr, "second daemon: %d %r" % (r.returncode, r.stderr))

env.stop()
env.wait_for(lambda: got("STOPPING=1"), 5, "STOPPING=1")
check("event=stopped exit=0" in env.log(), "no clean stop in the log")
print("daemon lifecycle: ok")
