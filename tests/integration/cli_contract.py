"""CLI contracts of DESIGN.md that need no daemon: status/history on a fresh data folder,
params get/set/refusal, option placement, history of an unknown execution, broken config."""
import json
import os

from rtlib import Env, check

env = Env(poll="10m", min_untrained=10)

# Read commands never create the journal.
st = env.status()
for key in ("parameters", "labels", "images_total", "previous_trained_images",
            "last_attempted_images", "untrained_images", "active_model", "in_flight"):
    check(key in st, "status --json lacks %s" % key)
check(st["active_model"] is None and st["in_flight"] == [], "fresh status %r" % st)
check(st["parameters"]["Minimum-Untrained-Images"] == 10, "typed int parameter")
check(st["parameters"]["Automatic-Training-Poll-Frequency"] == "10m", "duration shown as set")
check(st["parameters"]["Enable-Automatic-Training"] is True, "typed bool parameter")
check(env.json("history") == [], "history of a fresh data folder")
check(not os.path.exists(os.path.join(env.data, "journal.db")), "a read command created the journal")

# Counting: placeholders, nested keys and other files are not images.
env.add_images("stripes", 3)
root = os.path.join(env.bucket, "images_labeled_by_folder")
os.makedirs(os.path.join(root, "stripes", "nested"), exist_ok=True)
open(os.path.join(root, "stripes", "nested", "deep.png"), "w").close()
open(os.path.join(root, "stripes", "notes.txt"), "w").close()
open(os.path.join(root, "stripes", "UPPER.JPG"), "w").close()
open(os.path.join(root, "top-level.png"), "w").close()
os.makedirs(os.path.join(root, "empty-label"), exist_ok=True)
st = env.status()
check(st["labels"] == {"stripes": 4}, "counted labels %r" % st["labels"])
check(st["images_total"] == 4 and st["untrained_images"] == 4, "totals %r" % st)

# params: get prints the value alone; set validates; a refused value exits 2 and changes nothing.
check(env.cli("params", "get", "Minimum-F1-Score").stdout == "0.8\n", "params get")
env.cli("params", "set", "Minimum-F1-Score", "0.9")
check(env.cli("params", "get", "Minimum-F1-Score").stdout == "0.9\n", "params set took")
for name, bad in (("Minimum-F1-Score", "1.5"), ("Enable-Automatic-Training", "yes"),
                  ("Minimum-Untrained-Images", "ten"), ("Automatic-Training-Poll-Frequency", "5x"),
                  ("Human-Sampling-Interval", "-1")):
    r = env.cli("params", "set", name, "--", bad, check_rc=2)
    check(name in r.stderr, "refusal of %s=%s does not name it: %r" % (name, bad, r.stderr))
check(env.cli("params", "get", "Minimum-F1-Score").stdout == "0.9\n", "refused value changed it")
r = env.cli("params", "set", "No-Such-Param", "1", check_rc=2)
check("No-Such-Param" in r.stderr, "unknown parameter message")
params = env.json("params", "list")
check(params["Minimum-F1-Score"] == 0.9, "params list --json %r" % params)

# Options before or after the words.
import subprocess
from rtlib import BIN
r = subprocess.run([BIN, "history", "--json", "-c", env.cfg], capture_output=True, text=True)
check(r.returncode == 0 and isinstance(json.loads(r.stdout), list), "history --json -c F")
env.cli("history", "tr-unknown", check_rc=1)

# A broken config names file:line:column; check-config exits 2.
bad = os.path.join(env.dir, "bad.yaml")
with open(bad, "w") as f:
    f.write("data_dir: data\nstore: { driver: local, root: bucket }\nnotify:\n  - driver: pigeon\n")
r = subprocess.run([BIN, "check-config", "-c", bad], capture_output=True, text=True)
check(r.returncode == 2, "check-config of a bad file exited %d" % r.returncode)
check(r.stderr.startswith(bad + ":4:"), "error does not name file:line: %r" % r.stderr)
r = subprocess.run([BIN, "status", "-c", bad], capture_output=True, text=True)
check(r.returncode == 2 and (bad + ":4:") in r.stderr, "status with a bad config: %r" % r.stderr)
print("cli contract: ok")
