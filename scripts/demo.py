"""The demo story (run by scripts/demo.sh; tests/integration/demo_story.py tells the same story
with checks, and imports the images and the portal client from here).

Training (issue #3): with Minimum-Untrained-Images 10, 5 images of one label -> criteria not
met; 5 of another -> a training, its F1, a deployment; 10 more -> a second training takes over
and the first version is stopped.

Detection and review (issue #8): clear and ambiguous images are dropped for detection; the clear
ones are ACCEPTED, the ones the model is unsure of (below Minimum-Label-Detection-Confidence)
become review tasks in the portal. At a terminal the demo waits for a person to label them in
the browser; without one (CI, a pipe) it answers them itself through the portal's HTTP API, as
the browser would. The answers are copied into images_labeled_by_folder/ (humanLoopName-...) and
the next training takes them in and is deployed.
"""
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# scripts/demo.sh builds into build/; a test may point at another build (RETRAIND_BIN/_BUILD).
BIN = os.environ.get("RETRAIND_BIN", os.path.join(ROOT, "build", "retraind"))
SYNTH = os.path.join(os.environ.get("RETRAIND_BUILD", os.path.dirname(BIN)), "retraind-synth")
DEMO = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "var", "demo"))
CFG = os.path.join(DEMO, "retraind.yaml")
LABELED = os.path.join(DEMO, "bucket", "images_labeled_by_folder")
FOR_DETECTION = os.path.join(DEMO, "bucket", "images_for_detection")
LABELS = {"stripes": 0, "circles": 1}
NONE = "None of the Above"

# The portal's user: a fresh password every run; only its argon2id hash goes into the config.
USER = "demo"

# Detection. Clear images score 99.5-100. A blend is a 'stripes' image with P% of the 'circles'
# image of the same index mixed into every pixel (retraind-synth --blend). Where the model puts
# the line between the two classes differs from training to training (the builtin engine picks
# its test images by the version name): in most, the 35-40% blends score 50-85; some lean to
# stripes (then the 50% blends are the unsure ones), a few to circles (then the 10% one). Over
# 24 runs of this story 1 to 3 blends, usually 2, went to review; the others are ACCEPTED. In
# one the model was sure of all six: find_unsure then looks for its line with blends of PROBE.
THRESHOLD = 90
CLEAR = [("stripes", 200), ("stripes", 201), ("circles", 200), ("circles", 201)]
BLENDS = [(100, 40), (101, 35), (103, 40), (102, 50), (104, 50), (101, 10)]  # (index, P)
PROBE = 105  # the image whose blends find the model's line when it was sure of every blend


def clear_name(label, index):
    return "%s-%04d.png" % (label, index)


def blend_name(index, percent):
    return "blend-%04d-%02d.png" % (index, percent)


def answers_for(truth):
    """The labels the demo answers with, for {key: the label its generator used}: that label,
    except for the most mixed image of two or more, which gets None of the Above."""
    def mix(key):
        m = re.search(r"/blend-\d+-(\d+)\.png$", key)
        return int(m.group(1)) if m else 0
    none = max(truth, key=lambda k: (mix(k), k)) if len(truth) > 1 else None
    return {k: NONE if k == none else label for k, label in truth.items()}


def say(text):
    bold = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("", "")
    print("\n%s== %s%s" % (bold[0], text, bold[1]), flush=True)


def line(text):
    print("   " + text, flush=True)


def cli(*args):
    return subprocess.run([BIN, *args, "-c", CFG], capture_output=True, text=True, check=True).stdout


def history(workflow="training"):
    return json.loads(cli("history", "--json", "--workflow", workflow, "--limit", "1000"))


def wait_for(pred, what, timeout=300):
    deadline = time.time() + timeout
    while timeout is None or time.time() < deadline:
        if daemon is not None and daemon.poll() is not None:  # None: imported by a test
            sys.exit("demo: retraind exited (%d) while waiting for %s; see %s"
                     % (daemon.returncode, what, log_path))
        v = pred()
        if v:
            return v
        time.sleep(0.3)
    sys.exit("demo: timed out waiting for " + what)


def wait_exec(pred, what, timeout=300):
    """Waits for a training execution; returns it once the story has printed its end."""
    e = wait_for(lambda: next((e for e in history() if pred(e)), None), what, timeout)
    deadline = time.time() + 5
    while show_log.is_set() and e["id"] not in told and time.time() < deadline:
        time.sleep(0.05)
    return e


def synth(out, label, index, blend=None, tmp_dir=None):
    tmp = os.path.join(tmp_dir or DEMO, ".upload.png")
    args = [SYNTH, "--label", str(LABELS[label]), "--index", str(index), "-o", tmp]
    if blend:
        args += ["--blend", "%d:%d" % blend]
    subprocess.run(args, check=True)
    os.rename(tmp, out)  # an uploader's atomic put


def add_images(label, count, start, stage=None):
    """Writes count images of label into its folder; with stage (a list), draws them beside and
    leaves the renames to put_staged, so several labels land together."""
    folder = os.path.join(LABELED, label)
    os.makedirs(folder, exist_ok=True)
    for i in range(start, start + count):
        final = os.path.join(folder, "%s-%04d.png" % (label, i))
        if stage is None:
            synth(final, label, i)
            continue
        tmp = os.path.join(DEMO, ".stage-%s-%04d.png" % (label, i))
        synth(tmp, label, i)
        stage.append((tmp, final))
    line("put %d images of '%s' into images_labeled_by_folder/%s/" % (count, label, label))


def put_staged(stage):
    """Renames the staged images into place at once (drawn one by one, a check in between could
    start a training on part of them)."""
    for tmp, final in stage:
        os.rename(tmp, final)


show_log = threading.Event()


KV = re.compile(r'([\w.]+)=("(?:[^"\\]|\\.)*"|\S+)')


TERMINAL = ("DONE", "NOT_MET", "FAILED", "FAILED_F1")
path = {}  # training execution -> the states it went through that are not printed yet
told = set()  # training executions whose end the story has printed


def pretty(text):
    """Short story lines for the daemon's log lines about training: a training's steps are
    gathered into one line (A -> B -> C) until a notification or its end."""
    f = {k: v[1:-1].replace('\\"', '"') if v.startswith('"') else v for k, v in KV.findall(text)}
    ev, x = f.get("event", ""), f.get("exec", "")
    out = []

    def flush():
        states = path.get(x, [])
        if len(states) > 1:
            out.append("%s  %s" % (x, " -> ".join(states)))
            path[x] = states[-1:]

    if ev == "ready":
        out.append("retraind is ready; the training check runs every %s" % f.get("poll"))
    elif ev == "training_check":
        n = f.get("untrained")
        out.append("%s  check: %s new image%s, %s needed"
                   % (x, n, "" if n == "1" else "s", f.get("needed")))
    elif ev == "step" and x.startswith("tr-"):
        a, _, b = f.get("state", "").partition("->")
        path.setdefault(x, [a]).append(b)
        if b in TERMINAL:
            flush()
            told.add(x)
    elif ev.startswith("training."):
        flush()
        out.append("%s  notification: %s" % (x, f.get("subject", ev).replace("[retraind] ", "")))
    elif ev == "param_changed":
        out.append("parameter %s: %s -> %s" % (f.get("name"), f.get("from"), f.get("to")))
    return out


def follow(log_file, stop):
    """Prints the daemon's training events as they are logged, shortened (while show_log is
    set; the detection part of the story tells itself)."""
    with open(log_file, errors="replace") as f:
        while not stop.is_set():
            text = f.readline()
            if not text:
                time.sleep(0.1)
                continue
            for story in pretty(text) if show_log.is_set() else ():
                print("   | " + story, flush=True)


def step_output(e, state):
    return next((s["output"] for s in e["steps"] if s["state"] == state), None)


class Portal:
    """The review portal as a browser uses it: the sign-in form (its CSRF token is the
    rt_login_csrf cookie, repeated in the form), the session cookie, and X-CSRF-Token from
    /api/session on every write."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args):
            return None

    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                  self.NoRedirect)
        self.csrf = None

    def call(self, path, data=None, headers=None, method=None):
        req = urllib.request.Request(self.base + path, data=data, headers=headers or {},
                                     method=method)
        try:
            with self.opener.open(req, timeout=30) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode(errors="replace")

    def sign_in(self, user, password):
        code, _, page = self.call("/login")
        field = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
        cookie = next((c.value for c in self.jar if c.name == "rt_login_csrf"), None)
        if code != 200 or not field or field.group(1) != cookie:
            sys.exit("demo: the sign-in form is not as expected (%d)" % code)
        form = urllib.parse.urlencode({"user": user, "password": password,
                                       "csrf": field.group(1)}).encode()
        code, headers, _ = self.call("/login", form)
        if code != 303:
            sys.exit("demo: signing in as %s failed (%d)" % (user, code))
        self.csrf = self.api("/api/session")[1]["csrf"]

    def api(self, path, body=None):
        """GET (body None) or POST with the session's CSRF token; returns (status, JSON)."""
        headers, data = {}, None
        if body is not None:
            data = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", "X-CSRF-Token": self.csrf}
        code, _, text = self.call(path, data, headers)
        try:
            return code, (json.loads(text) if text else None)
        except ValueError:
            return code, text


def tasks():
    return {t["id"]: t for t in json.loads(cli("review", "list", "--json", "--limit", "1000"))}


def short(key):
    return key.rsplit("/", 1)[-1]


def write_config(password):
    # `retraind passwd` reads the password on stdin and prints its hash.
    pw_hash = subprocess.run([BIN, "passwd"], input=password + "\n", capture_output=True,
                             text=True, check=True).stdout.strip().splitlines()[-1]
    with open(CFG, "w") as f:
        f.write("# The demo's config: the embedded default (see config/local.yaml) in a fresh\n"
                "# folder, with a portal user (admin) and the HTTP server on a free loopback\n"
                "# port.\n"
                "data_dir: data\n"
                "store: { driver: local, root: bucket, scan: 1s }\n"
                "parameters:\n  driver: local\n  defaults:\n"
                "    Minimum-Untrained-Images: 10\n"
                "    Automatic-Training-Poll-Frequency: 5s\n"
                "    Minimum-Label-Detection-Confidence: %d\n"
                "engine: { driver: builtin }\n"
                "review:\n  driver: local\n  users:\n"
                "    - { name: %s, role: admin, password_hash: \"%s\" }\n"
                "http: { listen: \"127.0.0.1:0\" }\n"
                "notify: [ { driver: log } ]\n" % (THRESHOLD, USER, pw_hash))


def training_story():
    """Issue #3's story; returns the two trainings."""
    say("1. Five images of 'stripes': not enough new images to train (Minimum-Untrained-Images 10)")
    add_images("stripes", 5, 0)
    cli("trigger", "training")
    e = wait_exec(lambda e: e["state"] == "NOT_MET" and step_output(e, "CHECK")["images"] == 5,
                  "the check")
    out = step_output(e, "CHECK")
    line("-> criteria not met: %d of %d new images" % (out["untrained"], out["needed"]))

    say("2. Five images of 'circles': 10 new images, a training starts")
    add_images("circles", 5, 0)
    cli("trigger", "training")
    first = wait_exec(lambda e: e["state"] in TERMINAL and e["state"] != "NOT_MET",
                      "the first training")
    st = json.loads(cli("status", "--json"))
    ev = step_output(first, "EVALUATE") or {}
    line("-> %s: F1 %.3f, %s; previous_trained_images = %d" % (
        first["state"], ev.get("f1", 0),
        "deployed " + st["active_model"]["version"] if st["active_model"] else "not deployed",
        st["previous_trained_images"]))

    # Ten of each, so that the test set (a fifth of each label) has three of each: one image
    # near the line between the labels, answered in the review and drawn into the next test set,
    # then costs that training less than the Minimum-F1-Score's margin.
    say("3. Twenty more images: a second training; the new version takes over, the first is"
        " stopped")
    stage = []
    add_images("stripes", 10, 5, stage)
    add_images("circles", 10, 5, stage)
    put_staged(stage)
    cli("trigger", "training")
    second = wait_exec(lambda e: e["id"] != first["id"] and e["state"] in TERMINAL
                       and e["state"] != "NOT_MET", "the second training")
    sw = step_output(second, "SWITCH") or {}
    line("-> %s: active %s, stopped %s" % (second["state"], sw.get("active"), sw.get("previous")))
    return first, second


def drop_for_detection():
    """Writes the clear images and the blends into images_for_detection/; returns
    {key: the label its generator used}."""
    os.makedirs(FOR_DETECTION, exist_ok=True)
    truth = {}
    for label, i in CLEAR:
        synth(os.path.join(FOR_DETECTION, clear_name(label, i)), label, i)
        truth["images_for_detection/" + clear_name(label, i)] = label
    for i, pct in BLENDS:
        synth(os.path.join(FOR_DETECTION, blend_name(i, pct)), "stripes", i,
              (LABELS["circles"], pct))
        truth["images_for_detection/" + blend_name(i, pct)] = "stripes"
    return truth


def find_unsure(portal, truth, bucket=None, tmp_dir=None):
    """When the model was sure of every blend (its line between the labels lies outside them),
    drops blends of one more image into bucket's images_for_detection/, halving the mix between
    one it calls 'stripes' and one it calls 'circles', until one scores below the threshold;
    returns (key, its detection) with the key added to truth, or (None, None). The model's
    confidence is continuous in the mix, so such a blend lies between the two."""
    line("-> the model was sure of every image: blends of image %d nearer its line" % PROBE)
    lo, hi = 0, 100  # a mix the model calls 'stripes', one it calls 'circles'
    while hi - lo > 1:
        pct = (lo + hi) // 2
        key = "images_for_detection/" + blend_name(PROBE, pct)
        synth(os.path.join(bucket or os.path.join(DEMO, "bucket"), key), "stripes", PROBE,
              (LABELS["circles"], pct), tmp_dir)
        truth[key] = "stripes"

        def detected():
            code, rows = portal.api("/api/detections?limit=100")
            return next((r for r in (rows if code == 200 else [])
                         if r["key"] == key and r["route"]), None)

        d = wait_for(detected, "the detection of " + key, 60)
        route = "REVIEW" if d["route"] == "review" else "ACCEPTED"
        line("%-18s %-8s %5.1f  -> %s" % (short(key), d["label"], d["confidence"], route))
        if route == "REVIEW":
            return key, d
        if d["label"] == "stripes":
            lo = pct
        else:
            hi = pct
    return None, None


def answer_in_portal(portal, answers):
    """Answers every task the portal hands out, as the review page does; returns the tasks."""
    done = []
    while True:
        code, t = portal.api("/api/reviews/next")
        if code == 204:
            return done
        if code != 200:
            sys.exit("demo: /api/reviews/next answered %d: %r" % (code, t))
        label = answers.get(t["key"], NONE)
        code, r = portal.api("/api/reviews/%s/answer" % t["id"], {"label": label})
        if code != 200:
            sys.exit("demo: answering %s answered %d: %r" % (t["id"], code, r))
        line("%-18s model: %s %.1f  -> '%s'" % (short(t["key"]), t["detected_label"],
                                               t["confidence"], label))
        done.append(dict(t, answer=label))


def wait_for_people(open_tasks):
    """At a terminal: prints the tasks as they get answered (in the browser, or with
    `retraind review answer`) until all are."""
    answered = set()
    while len(answered) < len(open_tasks):
        for tid, t in tasks().items():
            if tid in open_tasks and t["state"] == "answered" and tid not in answered:
                answered.add(tid)
                line("%d of %d answered: %s -> '%s'" % (len(answered), len(open_tasks),
                                                       short(t["key"]), t["result"]))
        if daemon.poll() is not None:
            sys.exit("demo: retraind exited (%d); see %s" % (daemon.returncode, log_path))
        time.sleep(1)


def review_story(first, second, interactive, password):
    say("4. Detection: images dropped into images_for_detection/ "
        "(Minimum-Label-Detection-Confidence %d)" % THRESHOLD)
    truth = drop_for_detection()
    line("%d clear images (2 'stripes', 2 'circles') and %d blends:" % (len(CLEAR), len(BLENDS)))
    line("blend-I-P.png is 'stripes' image I with P% of 'circles' image I mixed in")
    addr = wait_for(lambda: json.loads(cli("status", "--json")).get("http"), "the HTTP address", 30)
    base = "http://" + addr
    portal = Portal(base)
    portal.sign_in(USER, password)

    def detected():
        code, rows = portal.api("/api/detections?limit=100")
        done = {r["key"]: r for r in (rows if code == 200 else [])
                if r["key"] in truth and r["route"]}
        return done if len(done) == len(truth) else None

    dets = wait_for(detected, "the detections", 120)
    for key in truth:
        d = dets[key]
        line("%-18s %-8s %5.1f  -> %s" % (short(key), d["label"], d["confidence"],
                                           "REVIEW" if d["route"] == "review" else "ACCEPTED"))
    review_keys = [k for k in truth if dets[k]["route"] == "review"]
    if not review_keys:
        key, _ = find_unsure(portal, truth)
        if not key:
            line("-> the model was sure of every image this time: nothing to review")
            line("   (each training picks other test images; run the demo again)")
            return True
        review_keys = [key]
    open_tasks = wait_for(lambda: (lambda t: t if len(t) == len(review_keys) else None)(
        {i: t for i, t in tasks().items() if t["key"] in review_keys}), "the review tasks", 60)
    line("-> %d review task%s open (`retraind review list` shows them)"
         % (len(open_tasks), "s" if len(open_tasks) > 1 else ""))

    say("5. The review portal: %s/review" % base)
    line("user:      %s" % USER)
    line("password:  %s" % password)
    if interactive:
        line("Open the address in a browser and sign in; as an admin you land on the")
        line("dashboard: 'Review portal' at the top shows the %d image%s to label."
             % (len(open_tasks), "s" if len(open_tasks) > 1 else ""))
        line("The demo goes on when all are answered. Ctrl-C stops the demo and retraind.")
        wait_for_people(open_tasks)
    else:
        line("No terminal: the demo answers as the review page in a browser does")
        line("(sign-in form, GET /api/reviews/next, POST /api/reviews/ID/answer + X-CSRF-Token)")
        answer_in_portal(portal, answers_for({k: truth[k] for k in review_keys}))

    say("6. The answers become training images in images_labeled_by_folder/")

    def folded():
        ex = {e["id"]: e for e in history("detection")}
        ends = [ex.get(t["exec_id"]) for t in open_tasks.values()]
        return ends if all(e and e["finished_at"] for e in ends) else None

    copies = []
    keys = {t["exec_id"]: t["key"] for t in open_tasks.values()}
    for e in wait_for(folded, "the answered detections to finish", 60):
        fold = step_output(e, "FOLD")
        if e["state"] == "DONE" and fold:
            copies.append(fold["copy"])
            line("%-18s -> %s" % (short(keys[e["id"]]),
                                   fold["copy"].split("images_labeled_by_folder/", 1)[-1]))
        else:
            line("%-18s -> %s: not copied" % (short(keys[e["id"]]), e["state"]))
    outputs = [n for _, _, ns in os.walk(os.path.join(DEMO, "bucket")) for n in ns
               if n == "output.json"]
    line("(and %d A2I output.json files in the store, one per task)" % len(outputs))
    if not copies:
        say("7. Every image was None of the Above: nothing new to train on")
        return True

    say("7. The next training takes them in")
    line("retraind params set Minimum-Untrained-Images %d" % len(copies))
    show_log.set()
    cli("params", "set", "Minimum-Untrained-Images", str(len(copies)))
    cli("trigger", "training")
    third = wait_exec(lambda e: e["id"] not in (first["id"], second["id"])
                      and e["state"] in TERMINAL and e["state"] != "NOT_MET", "the third training")
    show_log.clear()
    sw = step_output(third, "SWITCH") or {}
    ev = step_output(third, "EVALUATE") or {}
    line("-> %s: %d images (%d from the review), F1 %.3f, active %s" % (
        third["state"], (step_output(third, "MANIFEST") or {}).get("images", 0), len(copies),
        ev.get("f1", 0), sw.get("active")))
    return third["state"] == "DONE"


daemon = None
log_path = None


def main():
    global daemon, log_path
    # At a terminal (stdin and stdout) a person labels in the browser; otherwise the demo does.
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    password = secrets.token_urlsafe(12)
    shutil.rmtree(DEMO, ignore_errors=True)
    os.makedirs(LABELED)
    write_config(password)

    say("Starting retraind on the embedded default (data in %s)" % DEMO)
    log_path = os.path.join(DEMO, "retraind.log")
    log = open(log_path, "w")
    # Its own process group: Ctrl-C reaches only the demo, which stops retraind with SIGTERM.
    daemon = subprocess.Popen([BIN, "run", "-c", CFG], stdout=log, stderr=subprocess.STDOUT,
                              process_group=0)
    stop = threading.Event()
    show_log.set()
    threading.Thread(target=follow, args=(log_path, stop), daemon=True).start()
    rc = 0
    try:
        time.sleep(1)
        first, second = training_story()
        show_log.clear()
        if not review_story(first, second, interactive, password):
            rc = 1
        say("retraind status (the daemon is still running)")
        print(cli("status"), flush=True)
        if interactive:
            addr = json.loads(cli("status", "--json")).get("http")
            line("The dashboard is at http://%s/ (same sign-in). Ctrl-C stops retraind." % addr)
            while daemon.poll() is None:
                time.sleep(1)
    except KeyboardInterrupt:
        print()
        say("Ctrl-C: stopping retraind")
    finally:
        time.sleep(0.5)
        stop.set()
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=60)
        log.close()
        line("retraind stopped (exit %d)" % code)

    say("Where the data is")
    print("   config:   %s\n   journal:  %s\n   models:   %s\n   store:    %s\n   log:      %s"
          % (CFG, os.path.join(DEMO, "data", "journal.db"), os.path.join(DEMO, "data", "models"),
             os.path.join(DEMO, "bucket"), log_path))
    print("   try:      build/retraind history -c %s" % CFG)
    print("             build/retraind review list -c %s" % CFG)
    return 1 if rc or code else 0


if __name__ == "__main__":
    sys.exit(main())
