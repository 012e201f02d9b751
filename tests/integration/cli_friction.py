"""What a new user hit or expected at the CLI (issue #7, sections 3 and 4), one check each:

- `status` on a fresh install (no data folder, no store folder) prints JSON and creates neither;
- `params get NAME --json` prints valid JSON for all ten parameters (a duration "20s" is "20s"),
  for defaults and for values set from the CLI; `params set/reset --json` print JSON or refuse
  the option (exit 2), never text under --json;
- `params list` says where each value comes from (default, config, set) and that a set value
  shadows the YAML's; `params reset NAME` returns to the config's default;
- `history --state bogus` / `--workflow bogus` (and a state of another workflow) exit 2 listing
  the known ones; a filter that matches nothing says so and exits 0;
- `trigger foo` exits 2 naming the error; `trigger training` says the check runs when the daemon
  starts (no daemon), now (daemon running: and it does), or not at all with a training in
  flight;
- `status` shows the next check time and the poll period with its unit while the daemon runs;
- `retraind --help` lists no command that is not built without marking it;
- a tab used for indentation in the YAML says "tabs are not allowed for indentation".
"""
import json
import os
import re
import shutil
import signal
import subprocess
import time

from rtlib import BIN, Env, check, parse_time

PARAMS = ["Enable-Automatic-Training", "Automatic-Training-Poll-Frequency",
          "Minimum-Untrained-Images", "Minimum-F1-Score", "Minimum-Inference-Units",
          "Minimum-Label-Detection-Confidence", "Enable-A2I-Workflow",
          "Enable-Automatic-Human-Sampling", "Automatic-Human-Sampling-Frequency",
          "Human-Sampling-Interval"]

env = Env(poll="20s", min_untrained=10)

# ---- a fresh install: no data folder, no store folder ----
shutil.rmtree(env.bucket)
check(not os.path.exists(env.data), "Env made a data folder")
r = env.cli("status", "--json")
try:
    st = json.loads(r.stdout)
except ValueError as e:
    st = None
    check(False, "status --json on a fresh install is not JSON (%s): %r" % (e, r.stdout))
check(st["images_total"] == 0 and st["active_model"] is None, "fresh status %r" % st)
check("next_check_at" in st and st["next_check_at"] is None,
      "status --json without a daemon: next_check_at should be null: %r"
      % st.get("next_check_at", "missing"))
env.cli("status")
env.cli("history")
env.cli("params", "list")
check(not os.path.exists(env.data), "a read command created the data folder")
check(not os.path.exists(env.bucket), "a read command created the store folder")
r = env.cli("history", "--workflow", "training", "--state", "DONE")
check("no executions match" in r.stdout, "an empty filter on a fresh install: %r" % r.stdout)

# ---- params get --json: valid JSON for every parameter ----
listed = env.json("params", "list")
check(sorted(listed) == sorted(PARAMS), "params list --json names %r" % sorted(listed))
for name in PARAMS:
    r = env.cli("params", "get", name, "--json")
    try:
        v = json.loads(r.stdout)
    except ValueError as e:
        v = None
        check(False, "params get %s --json is not JSON (%s): %r" % (name, e, r.stdout))
    check(v == listed[name], "params get %s --json = %r, list says %r" % (name, v, listed[name]))
check(json.loads(env.cli("params", "get", "Automatic-Training-Poll-Frequency", "--json").stdout)
      == "20s", "the duration set as 20s")
check(isinstance(listed["Minimum-Untrained-Images"], int), "an integer parameter as a number")
check(listed["Enable-Automatic-Training"] is True, "a boolean parameter as true/false")
check(isinstance(listed["Minimum-F1-Score"], float), "a score as a number")


# ---- params list: where each value comes from ----
def sources():
    out = env.cli("params", "list").stdout
    rows = {}
    for line in out.splitlines():
        m = re.match(r"^(\S+)\s+(\S+)\s+(.*)$", line)
        if m and m.group(1) in PARAMS:
            rows[m.group(1)] = (m.group(2), m.group(3))
    check(sorted(rows) == sorted(PARAMS), "params list rows:\n%s" % out)
    return rows


rows = sources()
check(rows["Minimum-Untrained-Images"][1].startswith("config"), "a YAML default: %r" % (rows,))
check(env.cfg in rows["Minimum-Untrained-Images"][1], "a config value names the file: %r"
      % (rows["Minimum-Untrained-Images"],))
check(rows["Minimum-Inference-Units"][1].startswith("default"), "a built-in default: %r" % (rows,))

env.cli("params", "set", "Minimum-Untrained-Images", "7")
env.cli("params", "set", "Minimum-F1-Score", "0.9")
rows = sources()
v, src = rows["Minimum-Untrained-Images"]
check(v == "7" and src.startswith("set"), "a set value: %r" % (rows["Minimum-Untrained-Images"],))
check("shadows" in src and "10" in src, "a set value that shadows the YAML's 10 does not say so: "
      "%r" % src)
v, src = rows["Minimum-F1-Score"]
check(v == "0.9" and src.startswith("set") and "shadows" not in src,
      "a set value over a built-in default: %r" % (rows["Minimum-F1-Score"],))

r = env.cli("params", "reset", "Minimum-Untrained-Images")
check("10" in r.stdout, "reset does not say what it returned to: %r" % r.stdout)
check(env.cli("params", "get", "Minimum-Untrained-Images").stdout == "10\n",
      "reset did not return to the config's default")
env.cli("params", "reset", "Minimum-F1-Score")
check(env.cli("params", "get", "Minimum-F1-Score").stdout == "0.8\n",
      "reset did not return to the built-in default")
rows = sources()
check(rows["Minimum-Untrained-Images"][1].startswith("config"), "after reset: %r" % (rows,))
check(rows["Minimum-F1-Score"][1].startswith("default"), "after reset: %r" % (rows,))

# Values set through the CLI are JSON too.
env.cli("params", "set", "Automatic-Training-Poll-Frequency", "90s")
env.cli("params", "set", "Enable-A2I-Workflow", "false")
check(json.loads(env.cli("params", "get", "Automatic-Training-Poll-Frequency", "--json").stdout)
      == "90s", "a duration set as 90s")
check(json.loads(env.cli("params", "get", "Enable-A2I-Workflow", "--json").stdout) is False,
      "a boolean set to false")
env.cli("params", "reset", "Automatic-Training-Poll-Frequency")
env.cli("params", "reset", "Enable-A2I-Workflow")
check(env.cli("params", "get", "Automatic-Training-Poll-Frequency").stdout == "20s\n", "reset")

# ---- history filters ----
r = env.cli("history", "--state", "bogus", check_rc=2)
check("bogus" in r.stderr and all(s in r.stderr for s in ("NOT_MET", "DONE", "WAIT_TRAINING")),
      "history --state bogus does not list the known states: %r" % r.stderr)
r = env.cli("history", "--workflow", "bogus", check_rc=2)
check("bogus" in r.stderr and "training" in r.stderr and "parameter" in r.stderr,
      "history --workflow bogus does not list the known workflows: %r" % r.stderr)
r = env.cli("history", "--workflow", "parameter", "--state", "NOT_MET", check_rc=2)
check("NOT_MET" in r.stderr and "APPLY" in r.stderr,
      "a state of another workflow: %r" % r.stderr)
check(r.stdout == "", "a usage error printed output: %r" % r.stdout)

# ---- trigger ----
r = env.cli("trigger", "foo", check_rc=2)
check("foo" in r.stderr and "unknown" in r.stderr and "training" in r.stderr,
      "trigger foo: %r" % r.stderr)
r = env.cli("trigger", "training")
check("when the daemon starts" in r.stdout, "trigger with no daemon: %r" % r.stdout)

REQUEST = r'event=request kind="?training'
env.start()
env.wait_log(REQUEST, 30, "the waiting trigger taken at start")
env.wait_exec(lambda e: e["state"] == "NOT_MET", 30, "a NOT_MET check")

r = env.cli("history", "--workflow", "training", "--state", "DONE")
check("no executions match" in r.stdout and "--state DONE" in r.stdout,
      "a filter that matches nothing: %r" % r.stdout)
check(env.history("--workflow", "training", "--state", "DONE") == [], "--json of an empty filter")
not_met = env.history("--workflow", "training", "--state", "NOT_MET")
check(len(not_met) >= 1, "the NOT_MET filter")
one = env.json("history", not_met[0]["id"])
check(one["id"] == not_met[0]["id"] and one["steps"], "history EXECUTION --json: %r" % one)

# ---- status while the daemon runs ----
def next_check():
    return env.status()["next_check_at"]


env.wait_for(next_check, 10, "next_check_at in status")
st = env.status()
check(st.get("daemon_running") is True, "daemon_running %r" % st.get("daemon_running"))
check(st.get("poll_period") == {"text": "20s", "seconds": 20}, "poll_period %r"
      % st.get("poll_period"))
due = parse_time(st["next_check_at"])
now = time.time()
check(now - 5 <= due <= now + 20 + 5, "next check at %s, now %.0f, period 20 s"
      % (st["next_check_at"], now))
out = env.cli("status").stdout
line = next((l for l in out.splitlines() if "20s" in l and re.search(r"\d{4}-\d\d-\d\dT", l)), "")
m = re.search(r"(\d{4}-\d\d-\d\dT[0-9:.]+Z)", line)
check(m and abs(parse_time(m.group(1)) - due) <= 21,
      "status text lacks the period with its unit and the next check time:\n%s" % out)

r = env.cli("trigger", "training")
check("now" in r.stdout and "when the daemon starts" not in r.stdout,
      "trigger with a daemon running: %r" % r.stdout)
env.wait_log(REQUEST, 10, "the trigger taken now", count=2)
env.stop()
st = env.status()
check(st["next_check_at"] is None and st["daemon_running"] is False, "stopped: %r" % st)
check("when the daemon runs" in env.cli("status").stdout, "stopped: the text status")

# ---- trigger with a training in flight (a crash left it in WAIT_TRAINING) ----
env.add_images("stripes", 5)
env.add_images("circles", 5)
env.start(env={"RETRAIND_CRASH_AT": "enter:WAIT_TRAINING"}, wait_ready=False)
rc = env.wait_exit(60)
check(rc == -signal.SIGKILL, "crash injection: exit %r" % rc)
flying = env.history("--workflow", "training", "--state", "WAIT_TRAINING")
check(len(flying) == 1, "the training in flight: %r" % flying)
r = env.cli("trigger", "training")
check("in flight" in r.stdout and flying[0]["id"] in r.stdout and "WAIT_TRAINING" in r.stdout,
      "trigger with a training in flight: %r" % r.stdout)
env.start()
env.wait_exec(lambda e: e["id"] == flying[0]["id"] and e["state"] == "DONE", 120,
              "the resumed training DONE")
env.stop()
check(len(env.history("--workflow", "training", "--state", "DONE")) == 1, "one DONE")
# The in-flight answer recorded no request: nothing but the two earlier triggers was taken.
check(env.log_count(REQUEST) == 2, "a trigger refused as in flight was still taken:\n%s"
      % env.log()[-3000:])

# ---- --help lists what is built; the rest is marked ----
r = subprocess.run([BIN, "--help"], capture_output=True, text=True)
check(r.returncode == 0, "--help exited %d" % r.returncode)
parts = r.stdout.split("\nnot built yet")
check(len(parts) <= 2, "--help has two 'not built yet' sections:\n%s" % r.stdout)
if len(parts) == 1:
    parts.append("")  # every command is built
built = parts[0].split("\ncommands:\n")[1]
listed = re.findall(r"^  ([a-z][a-z-]*)\b", built, re.M)
check(listed, "no commands in --help:\n%s" % r.stdout)
for name in listed:
    r = subprocess.run([BIN, name, "--help"], capture_output=True, text=True)
    check(r.returncode == 0 and "not built" not in r.stdout + r.stderr,
          "%s is listed as built but: %d %r %r" % (name, r.returncode, r.stdout, r.stderr))
not_built = re.findall(r"^  ([a-z][a-z-]*)\b", parts[1], re.M)
for name in not_built:
    if name in listed:
        continue  # "trigger sampling" under a built command
    r = subprocess.run([BIN, name, "-c", env.cfg], capture_output=True, text=True)
    check(r.returncode == 1 and "not built yet" in r.stderr,
          "%s is marked not built but: %d %r" % (name, r.returncode, r.stderr))
# ---- a YAML tab error says what is wrong ----
tab = os.path.join(env.dir, "tab.yaml")
with open(tab, "w") as f:
    f.write("data_dir: data\nstore:\n\tdriver: local\n")
r = subprocess.run([BIN, "check-config", "-c", tab], capture_output=True, text=True)
check(r.returncode == 2 and "tabs are not allowed for indentation" in r.stderr
      and (tab + ":3:") in r.stderr, "a tab in the YAML: %d %r" % (r.returncode, r.stderr))

# ---- set/reset under --json print JSON or refuse the option ----
for args, want in ((("params", "set", "Human-Sampling-Interval", "12"), "12\n"),
                   (("params", "reset", "Human-Sampling-Interval"), "10\n")):
    r = env.cli(*args, "--json", check_rc=None)
    if r.returncode == 0:
        try:
            json.loads(r.stdout)
        except ValueError as e:
            check(False, "retraind %s --json exited 0 with output that is not JSON (%s): %r"
                  % (" ".join(args), e, r.stdout))
        check(env.cli("params", "get", "Human-Sampling-Interval").stdout == want,
              "%s --json did not take" % " ".join(args))
    else:
        check(r.returncode == 2 and r.stdout == "" and "--json" in r.stderr,
              "retraind %s --json: neither JSON nor a usage error: %d %r %r"
              % (" ".join(args), r.returncode, r.stdout, r.stderr))
        env.cli(*args)
print("cli friction: ok")
