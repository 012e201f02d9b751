"""`retraind label-job create|status|list` (issue #10): usage errors, a job created twice, an
unknown job, the list's JSON shape, and a job created while the daemon is down started when it
comes up.

- create refuses, with exit 2 and a message naming the option, and changes nothing: one label,
  eleven labels, the name "Bad_Name", no --prefix, --min-confidence 1.5;
- create prints "labeling job N created"; the same name again exits non-zero saying it exists;
- status of an unknown job exits 1 "no such labeling job";
- list --json: [{"name", "kind", "state", "total", "labeled"}], a --verify job with kind
  "verify"; status --json has DESIGN.md's keys;
- the daemon, started after the creates, lists both jobs' images (total 6 and 4).
"""
import json

from labeling_lib import create, lj_env, make_images, status
from rtlib import check, fail

env = lj_env(["c1"])
make_images(env, "unlabeled/pets/", [("cat", "stripes", 3), ("dog", "circles", 3)], 40)
make_images(env, "images_labeled_by_folder/cat/", [("cat", "stripes", 2)], 41)
make_images(env, "images_labeled_by_folder/dog/", [("dog", "circles", 2)], 42)


def listed():
    r = env.cli("label-job", "list", "--json")
    try:
        return json.loads(r.stdout)
    except ValueError:
        fail("label-job list --json printed %r" % r.stdout)


def refused(option, args, labels=("cat", "dog"), prefix="unlabeled/pets/", name="pets"):
    base = ["label-job", "create"]
    if name is not None:
        base += ["--name", name]
    if prefix is not None:
        base += ["--prefix", prefix]
    base += ["--labels", ",".join(labels), "--instructions", "Cat or dog?"]
    r = env.cli(*base, *args, check_rc=None)
    check(r.returncode == 2, "create %r exited %d, wanted 2 (usage)\nstdout: %s\nstderr: %s"
          % (base[2:] + list(args), r.returncode, r.stdout, r.stderr))
    check(option in r.stderr, "create %r: the message does not name %s: %r"
          % (base[2:] + list(args), option, r.stderr))


# ---- usage errors (the journal has no job after any of them) ----
refused("--labels", [], labels=("cat",))
refused("--labels", [], labels=["l%d" % i for i in range(11)])
refused("--name", [], name="Bad_Name")
refused("--prefix", [], prefix=None)
refused("--min-confidence", ["--min-confidence", "1.5"])
r = env.cli("label-job", "list", "--json", check_rc=None)
check(r.returncode == 0 and json.loads(r.stdout or "null") == [],
      "after refused creates: list exited %d: %r %r" % (r.returncode, r.stdout, r.stderr))

# ---- create, twice ----
r = create(env, "pets", "unlabeled/pets/", ["cat", "dog"])
check("labeling job pets created" in r.stdout, "create printed %r" % r.stdout)
r = create(env, "pets", "unlabeled/pets/", ["cat", "dog"], check_rc=None)
check(r.returncode != 0 and "exists" in r.stdout + r.stderr,
      "creating pets again exited %d: %r %r" % (r.returncode, r.stdout, r.stderr))
create(env, "pet-check", "images_labeled_by_folder/", ["cat", "dog"], "--verify")

# ---- status of an unknown job ----
r = env.cli("label-job", "status", "nope", check_rc=1)
check("no such labeling job" in r.stderr, "status nope said %r %r" % (r.stdout, r.stderr))
env.cli("label-job", "status", "nope", "--json", check_rc=1)

# ---- list and status shapes ----
jobs = listed()
check(isinstance(jobs, list) and len(jobs) == 2, "list --json %r" % jobs)
by = {j["name"]: j for j in jobs}
check(sorted(by) == ["pet-check", "pets"], "list names %r" % sorted(by))
for j in jobs:
    check(set(j) >= {"name", "kind", "state", "total", "labeled"}, "list entry %r" % j)
    check(j["state"] == "running" and isinstance(j["total"], int) and j["labeled"] == 0,
          "list entry %r" % j)
check(by["pets"]["kind"] == "label" and by["pet-check"]["kind"] == "verify", "kinds %r" % jobs)
st = status(env, "pets")
for k in ("name", "state", "total", "labeled", "labels", "workers", "output_manifest", "kind",
          "answers"):
    check(k in st, "status --json lacks %r: %r" % (k, st))
check(st["name"] == "pets" and st["state"] == "running" and st["output_manifest"] is None,
      "status %r" % st)
check(isinstance(st["workers"], dict) and isinstance(st["labels"], dict), "status %r" % st)

# ---- the daemon starts the jobs created while it was down ----
env.start()
env.wait_for(lambda: {j["name"]: j["total"] for j in listed()} == {"pets": 6, "pet-check": 4},
             30, "both jobs listed by the daemon (%r)" % listed())
env.stop()
print("labeling cli: ok")
