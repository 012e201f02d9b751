"""Untrained images are counted by identity (key), not by count (issue #7, section 4).

1. A version is trained and deployed on 20 images (Minimum-Untrained-Images 10). 15 of them are
   deleted and 10 new ones added: 15 images in the store, fewer than the 20 trained on, yet 10 are
   untrained. `status --json` says untrained_images 10 (previous_trained_images stays 20, the
   count in the deployed manifest) and the next check starts a training whose CHECK output says
   untrained 10 (counting would say 15 - 20 < 0 and never train again).
2. Renaming images (same bytes, new key) makes them new: after the second version (15 images),
   10 of its images are renamed: still 15 images, 10 untrained, and a training starts again.
"""
import os

from rtlib import Env, check, step_output

env = Env(poll="10m", min_untrained=10)
env.add_images("stripes", 10)
env.add_images("circles", 10)


def run_training(what):
    """Starts the daemon (its start-up check runs), waits for a new training to end, stops."""
    known = {e["id"] for e in env.history("--workflow", "training")}
    env.start()
    ex = env.wait_exec(lambda e: e["id"] not in known and e["state"] in
                       ("DONE", "NOT_MET", "FAILED", "FAILED_F1"), 120, what)
    env.stop()
    return ex


first = run_training("the first training")
check(first["state"] == "DONE", "first training ended %s (%s)" % (first["state"], first["error"]))
st = env.status()
check(st["previous_trained_images"] == 20 and st["untrained_images"] == 0, "after the first: %r"
      % {k: st[k] for k in ("previous_trained_images", "untrained_images", "images_total")})

# 1. Delete 15 trained images, add 10 new ones.
stripes = env.image_paths("stripes")
circles = env.image_paths("circles")
for path in stripes[:8] + circles[:7]:
    os.unlink(path)
env.add_images("stripes", 5, start=100)
env.add_images("circles", 5, start=100)
st = env.status()
check(st["images_total"] == 15, "images_total %r" % st["images_total"])
check(st["previous_trained_images"] == 20, "previous_trained_images %r (the deployed manifest's "
      "count)" % st["previous_trained_images"])
check(st["untrained_images"] == 10, "status untrained_images %r, wanted 10 (the new images)"
      % st["untrained_images"])

second = run_training("a training after deleting 15 and adding 10")
out = step_output(second, "CHECK")
check(out is not None and out.get("untrained") == 10 and out.get("images") == 15,
      "CHECK output %r, wanted images 15, untrained 10" % out)
check(second["state"] == "DONE", "second training ended %s (%s); CHECK %r"
      % (second["state"], second["error"], out))
check(step_output(second, "MANIFEST")["images"] == 15, "the manifest holds every labeled image")
st = env.status()
check(st["previous_trained_images"] == 15 and st["untrained_images"] == 0, "after the second: %r"
      % {k: st[k] for k in ("previous_trained_images", "untrained_images", "images_total")})

# 2. Rename 10 images: same bytes under new keys are new images.
renamed = env.image_paths("stripes")[:5] + env.image_paths("circles")[:5]
for path in renamed:
    folder, name = os.path.split(path)
    os.rename(path, os.path.join(folder, "renamed-" + name))
st = env.status()
check(st["images_total"] == 15, "images_total after renaming %r" % st["images_total"])
check(st["untrained_images"] == 10, "untrained_images after renaming 10: %r"
      % st["untrained_images"])
third = run_training("a training after renaming 10 images")
out = step_output(third, "CHECK")
check(out is not None and out.get("untrained") == 10, "CHECK output after renaming: %r" % out)
check(third["state"] == "DONE", "third training ended %s (%s)" % (third["state"], third["error"]))

# One renamed image alone is one untrained image: the next check is NOT_MET with untrained 1.
path = env.image_paths("circles")[-1]
folder, name = os.path.split(path)
os.rename(path, os.path.join(folder, "again-" + name))
untrained = env.status()["untrained_images"]
check(untrained == 1, "one renamed image: untrained_images %r" % untrained)
fourth = run_training("a check after renaming one image")
check(fourth["state"] == "NOT_MET" and step_output(fourth, "CHECK")["untrained"] == 1,
      "after renaming one image: %s %r" % (fourth["state"], step_output(fourth, "CHECK")))
print("identity counting: ok")
