"""The demo story (run by scripts/demo.sh): with Minimum-Untrained-Images 10,
5 images of one label -> criteria not met; 5 of another -> a training, its F1, a deployment;
10 more -> a second training takes over and the first version is stopped."""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "retraind")
SYNTH = os.path.join(ROOT, "build", "retraind-synth")
DEMO = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "var", "demo"))
CFG = os.path.join(DEMO, "retraind.yaml")
LABELS = {"stripes": 0, "circles": 1}
SHOW = ("event=training_check", "event=step ", "event=training.", "event=ready", "event=stopped",
        "event=resume", "event=param_changed")


def say(text):
    print("\n\033[1m== %s\033[0m" % text, flush=True)


def cli(*args):
    return subprocess.run([BIN, *args, "-c", CFG], capture_output=True, text=True, check=True).stdout


def history():
    return json.loads(cli("history", "--json", "--workflow", "training"))


def wait_exec(pred, what, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for e in history():
            if pred(e):
                return e
        time.sleep(0.3)
    sys.exit("demo: timed out waiting for " + what)


def add_images(label, count, start):
    folder = os.path.join(DEMO, "bucket", "images_labeled_by_folder", label)
    os.makedirs(folder, exist_ok=True)
    for i in range(start, start + count):
        tmp = os.path.join(DEMO, ".upload.png")
        subprocess.run([SYNTH, "--label", str(LABELS[label]), "--index", str(i), "-o", tmp],
                       check=True)
        os.rename(tmp, os.path.join(folder, "%s-%04d.png" % (label, i)))
    print("   put %d images of '%s' into images_labeled_by_folder/%s/" % (count, label, label))


def follow(path, stop):
    """Prints the daemon's interesting log lines as they are written."""
    with open(path, errors="replace") as f:
        while not stop.is_set():
            line = f.readline()
            if not line:
                time.sleep(0.1)
                continue
            if any(s in line for s in SHOW):
                print("   | " + line.rstrip().split(" ", 1)[-1], flush=True)


def step_output(e, state):
    return next((s["output"] for s in e["steps"] if s["state"] == state), None)


shutil.rmtree(DEMO, ignore_errors=True)
os.makedirs(os.path.join(DEMO, "bucket", "images_labeled_by_folder"))
with open(CFG, "w") as f:
    f.write("# The demo's config: the embedded default (see config/local.yaml) in a fresh folder.\n"
            "data_dir: data\n"
            "store: { driver: local, root: bucket }\n"
            "parameters:\n  driver: local\n  defaults:\n"
            "    Minimum-Untrained-Images: 10\n"
            "    Automatic-Training-Poll-Frequency: 5s\n"
            "engine: { driver: builtin }\n"
            "notify: [ { driver: log } ]\n")

say("Starting retraind on the embedded default (data in %s)" % DEMO)
log_path = os.path.join(DEMO, "retraind.log")
log = open(log_path, "w")
daemon = subprocess.Popen([BIN, "run", "-c", CFG], stdout=log, stderr=subprocess.STDOUT)
stop = threading.Event()
threading.Thread(target=follow, args=(log_path, stop), daemon=True).start()
try:
    time.sleep(1)
    say("1. Five images of 'stripes': not enough new images to train (Minimum-Untrained-Images 10)")
    add_images("stripes", 5, 0)
    cli("trigger", "training")
    e = wait_exec(lambda e: e["state"] == "NOT_MET" and step_output(e, "CHECK")["images"] == 5,
                  "the check")
    out = step_output(e, "CHECK")
    print("   -> criteria not met: %d of %d new images" % (out["untrained"], out["needed"]))

    say("2. Five images of 'circles': 10 new images, a training starts")
    add_images("circles", 5, 0)
    cli("trigger", "training")
    first = wait_exec(lambda e: e["state"] in ("DONE", "FAILED", "FAILED_F1"), "the first training")
    st = json.loads(cli("status", "--json"))
    print("   -> %s: F1 %.3f, %s; previous_trained_images = %d" % (
        first["state"], step_output(first, "EVALUATE")["f1"] if step_output(first, "EVALUATE") else 0,
        "deployed " + st["active_model"]["version"] if st["active_model"] else "not deployed",
        st["previous_trained_images"]))

    say("3. Ten more images: a second training; the new version takes over, the first is stopped")
    add_images("stripes", 5, 5)
    add_images("circles", 5, 5)
    cli("trigger", "training")
    second = wait_exec(lambda e: e["id"] != first["id"] and e["state"] in ("DONE", "FAILED", "FAILED_F1"),
                       "the second training")
    sw = step_output(second, "SWITCH") or {}
    print("   -> %s: active %s, stopped %s" % (second["state"], sw.get("active"), sw.get("previous")))
    time.sleep(0.5)
    stop.set()
    say("retraind status (the daemon is still running)")
    print(cli("status"))
finally:
    time.sleep(0.5)
    stop.set()
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=60)
    log.close()

say("Where the data is")
print("   config:   %s\n   journal:  %s\n   models:   %s\n   store:    %s\n   log:      %s"
      % (CFG, os.path.join(DEMO, "data", "journal.db"), os.path.join(DEMO, "data", "models"),
         os.path.join(DEMO, "bucket"), log_path))
print("   try:      build/retraind history -c %s" % CFG)
