"""CLI contracts of DESIGN.md that need no daemon: status/history on a fresh data folder,
params get/set/refusal, option placement, history of an unknown execution, broken config."""
import json
import os
import re
import subprocess
import unicodedata

from rtlib import BIN, SYNTH, Env, check

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
# A negative number in a value position is a value (refused by the parameter's own range check,
# which names the parameter and the range), not an unknown option; "-x" still is an option.
for bad in ("-0.1", "-1", "-.5", "-1e3"):
    r = env.cli("params", "set", "Minimum-F1-Score", bad, check_rc=2)
    check("unknown option" not in r.stderr, "%s taken as an option: %r" % (bad, r.stderr))
    check("Minimum-F1-Score" in r.stderr and re.search(r"\b0(\.0+)?\s*(\.\.|to)\s*1\b", r.stderr),
          "refusal of %s does not name the parameter and its range: %r" % (bad, r.stderr))
r = env.cli("params", "set", "Human-Sampling-Interval", "-1", check_rc=2)
check("Human-Sampling-Interval" in r.stderr and "unknown option" not in r.stderr, r.stderr)
check(env.cli("params", "get", "Minimum-F1-Score").stdout == "0.9\n", "a negative value changed it")
r = env.cli("params", "list", "-x", check_rc=2)
check("unknown option -x" in r.stderr, "a real unknown option: %r" % r.stderr)
r = env.cli("params", "set", "No-Such-Param", "1", check_rc=2)
check("No-Such-Param" in r.stderr, "unknown parameter message")
params = env.json("params", "list")
check(params["Minimum-F1-Score"] == 0.9, "params list --json %r" % params)

# Options before or after the words.
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

# Read commands print their output and real errors only: no library log lines on stderr, even when
# the library has something to say (a leftover upload in the store's temporary folder is cleaned
# and logged at notice). RETRAIND_LOG_LEVEL brings the lines back for troubleshooting.
def leave_tmp_file():
    tmp = os.path.join(env.bucket, ".retraind-tmp")
    os.makedirs(tmp, exist_ok=True)
    open(os.path.join(tmp, "left-over"), "w").close()


for args in (("status",), ("status", "--json"), ("history",), ("history", "--json"),
             ("params", "list"), ("params", "list", "--json"), ("params", "get", "Minimum-F1-Score")):
    leave_tmp_file()
    r = env.cli(*args)
    check(r.stderr == "", "retraind %s wrote to stderr: %r" % (" ".join(args), r.stderr))
r = subprocess.run([BIN, "check-config", "-c", env.cfg], capture_output=True, text=True)
check(r.returncode == 0 and r.stderr == "", "check-config stderr: %r" % r.stderr)
leave_tmp_file()
r = subprocess.run([BIN, "status", "-c", env.cfg], capture_output=True, text=True,
                   env=dict(os.environ, RETRAIND_LOG_LEVEL="debug"))
check(r.returncode == 0 and "event=" in r.stderr, "RETRAIND_LOG_LEVEL=debug shows no log: %r" % r.stderr)
r = subprocess.run([BIN, "status", "-c", env.cfg], capture_output=True, text=True,
                   env=dict(os.environ, RETRAIND_LOG_LEVEL="loud"))
check(r.returncode == 2 and "RETRAIND_LOG_LEVEL" in r.stderr, "a bad RETRAIND_LOG_LEVEL: %r" % r.stderr)

# --help lists every command (none is left "not built yet"); every listed command answers
# COMMAND --help with its usage line.
r = subprocess.run([BIN, "--help"], capture_output=True, text=True)
check(r.returncode == 0, "--help exited %d" % r.returncode)
check("not built yet" not in r.stdout, "--help still has a not-built section: %r" % r.stdout)
built = r.stdout
check("params list|get NAME|set NAME VALUE|reset NAME" in built, "params usage: %r" % built)
commands = re.findall(r"^  ([a-z][a-z-]*) ", built.split("\ncommands:\n")[1].split("\n\n")[0], re.M)
check(set(commands) == {"run", "check-config", "status", "params", "trigger", "history", "review",
                        "sign", "passwd", "bootstrap", "doctor", "label-job"},
      "built commands in --help: %r" % commands)
for name in commands:
    r = subprocess.run([BIN, name, "--help"], capture_output=True, text=True)
    check(r.returncode == 0 and r.stdout.startswith("usage: retraind " + name),
          "%s --help: %d %r %r" % (name, r.returncode, r.stdout, r.stderr))
r = subprocess.run([BIN, "--version"], capture_output=True, text=True)
check(r.returncode == 0 and r.stdout.startswith("retraind "), "--version: %r" % r.stdout)

# status aligns its count column by display width: accented, combining and wide label names.
def width(text):
    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


uni = Env(poll="10m")
labels = {"plain": 1, "été": 2, "猫": 3, "cafe\u0301": 4, "chat-noir-été": 5}
for label, n in labels.items():
    folder = os.path.join(uni.bucket, "images_labeled_by_folder", label)
    os.makedirs(folder)
    for i in range(n):
        open(os.path.join(folder, "img-%d.png" % i), "w").close()
out = uni.cli("status").stdout
section = out.split("images per label:\n")[1].split("\n")
rows = section[:section.index(next(l for l in section if l.startswith("  total")))+1]
check(len(rows) == len(labels) + 1, "label rows: %r" % rows)
for label, n in labels.items():
    check(any(row.strip().startswith(label) and row.endswith(" %d" % n) for row in rows),
          "no row for %s: %r" % (label, rows))
ends = {width(row) for row in rows}
check(len(ends) == 1, "count columns end at different display columns %r:\n%s" % (ends, "\n".join(rows)))

# retraind-synth --dir makes the folder and its missing parents.
deep = os.path.join(env.dir, "synth", "a", "b")
subprocess.run([SYNTH, "--labels", "x,y", "--count", "2", "--dir", deep], check=True, timeout=60)
for label in ("x", "y"):
    for i in range(2):
        path = os.path.join(deep, label, "%s-%d.png" % (label, i))
        check(os.path.getsize(path) > 0, "synth did not write " + path)
print("cli contract: ok")
