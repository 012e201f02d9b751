"""SIGHUP with a change that needs a restart is refused (issue #7, 3.6).

The config file gets a new data_dir: on SIGHUP the daemon logs event=reload_refused naming
data_dir and keeps running on the config it started with: it does not create the new folder, it
keeps polling, and status/history through the old config (the old data folder) keep working and
show it running. A change of store.root is refused the same way, naming store. A live change in
the same file as a restart-only one is not half-applied. Then a SIGHUP with only a live change
(a parameter default) applies.
"""
import json
import os
import re
import signal
import subprocess

from rtlib import BIN, Env, check

env = Env(poll="1s", min_untrained=10)
original = env.config()
old_cfg = os.path.join(env.dir, "old.yaml")
with open(old_cfg, "w") as f:
    f.write(original)

CHECK = r"event=training_check exec="


def old(*args):
    """The CLI on the config the daemon started with."""
    r = subprocess.run([BIN, args[0], "-c", old_cfg, *args[1:], "--json"], capture_output=True,
                       text=True, timeout=60)
    check(r.returncode == 0, "retraind %s (old config): %d %r" % (" ".join(args), r.returncode,
                                                                  r.stderr))
    return json.loads(r.stdout)


def checks_total():
    return sum(e.get("checks", 1) for e in old("history", "--workflow", "training"))


env.start()
env.wait_log(CHECK, 30, "the first check")

# 1. data_dir changes (and, in the same file, a live change that must not be half-applied).
new_data = os.path.join(env.dir, "data2")
changed = original.replace("data_dir: data\n", "data_dir: data2\n")
changed = changed.replace("    Minimum-Untrained-Images: 10\n",
                          "    Minimum-Untrained-Images: 10\n    Minimum-F1-Score: 0.55\n")
check(changed != original and "data2" in changed, "the edit did not apply")
env.set_config(changed)
env.signal(signal.SIGHUP)
line = env.wait_for(lambda: re.search(r"^.*event=reload_refused.*$", env.log(), re.M), 10,
                    "the reload refused")
check("data_dir" in line.group(0), "the refusal does not name data_dir: %r" % line.group(0))
check("event=reloaded" not in env.log(), "a refused reload also said reloaded")
check(env.proc.poll() is None, "the daemon stopped on a refused reload")
check(not os.path.exists(new_data), "the daemon created the new data folder")
check("Minimum-F1-Score from=0.8" not in env.log(), "half a reload applied (a live default)")

# It keeps running on the old config: it keeps polling, and the old data folder answers.
n = env.log_count(CHECK)
before = checks_total()
env.wait_log(CHECK, 15, "two more checks", count=n + 2)
env.wait_for(lambda: checks_total() >= before + 2, 15, "the check count to grow in the old journal")
check("Minimum-F1-Score from=0.8" not in env.log(),
      "a poll after the refused reload applied its live default")
st = old("status")
check(st["daemon_running"] is True, "status through the old config: not running")
check(st["data_dir"] == env.data, "status data_dir %r" % st["data_dir"])
check(st["parameters"]["Minimum-F1-Score"] == 0.8, "a live change of a refused reload applied: %r"
      % st["parameters"]["Minimum-F1-Score"])

# 2. store.root changes: refused, naming store.
env.set_config(original.replace("root: bucket", "root: bucket2"))
n_refused = env.log_count(r"event=reload_refused")
env.signal(signal.SIGHUP)
env.wait_log(r"event=reload_refused", 10, "the second refusal", count=n_refused + 1)
line = re.findall(r"^.*event=reload_refused.*$", env.log(), re.M)[-1]
check(re.search(r"keys=\S*store", line), "the refusal does not name store: %r" % line)
check("data_dir" not in line.split("keys=")[1].split(" ")[0], "names data_dir too: %r" % line)
check(not os.path.exists(os.path.join(env.dir, "bucket2")), "the new store root was created")

# 3. Only a live change: it applies.
env.set_config(original.replace("    Minimum-Untrained-Images: 10\n",
                                "    Minimum-Untrained-Images: 10\n    Minimum-F1-Score: 0.6\n"))
env.signal(signal.SIGHUP)
env.wait_log(r"event=reloaded", 10, "the live reload")
env.wait_log(r"name=Minimum-F1-Score from=0\.8 to=0\.6", 10, "the new default applied")
check(env.cli("params", "get", "Minimum-F1-Score").stdout == "0.6\n", "params get after reload")
n = env.log_count(CHECK)
env.wait_log(CHECK, 15, "polling after the reload", count=n + 1)
env.stop()
check(not os.path.exists(new_data), "data2 appeared")
print("sighup restart keys: ok")
