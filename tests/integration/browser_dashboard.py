"""A real browser on the dashboard (issue #8, "Must be shown by tests").

A training of one label fails (FAILED, the engine's reason), then a model is trained and deployed
(one training execution DONE); four new images leave the next
checks NOT_MET under Minimum-Untrained-Images 10. Headless Chromium (tests/browser/dashboard.mjs)
signs in as an admin, filters the history to finished trainings, opens the graph of that
execution and checks the path taken is highlighted, opens the failed one and checks its failing
step is red with the error; then sets Minimum-Untrained-Images: -1 must
be refused with the server's reason, 4 must be saved and survive a refresh and a reload. The new
value must then take effect: the daemon's next check starts a training (its CHECK passes with 4
untrained images). Screenshots: $RETRAIND_BUILD/artifacts/browser/.
"""
from browserlib import base_url, check, make_env, run
from rtlib import step_output

env = make_env(poll="2s", min_untrained=10)
# A training the engine refuses (one label only: nothing to tell apart) ends FAILED, so the
# dashboard has a failed step to draw in red with its error.
env.add_images("stripes", 10)
env.start()
failed = env.wait_exec(lambda e: e["state"] in ("DONE", "FAILED", "FAILED_F1"), 180,
                       "the one-label training")
check(failed["state"] == "FAILED", "one-label training ended %s" % failed["state"])
env.add_images("circles", 10)
first = env.wait_exec(lambda e: e["id"] != failed["id"] and
                      e["state"] in ("DONE", "FAILED", "FAILED_F1"), 180, "the first training")
check(first["state"] == "DONE", "first training ended %s (%s)" % (first["state"], first["error"]))
env.add_images_bulk(["stripes", "circles"], 2, start=200)
env.wait_exec(lambda e: e["id"] != first["id"] and e["state"] == "NOT_MET" and
              (step_output(e, "CHECK") or {}).get("untrained") == 4, 60,
              "a NOT_MET check that sees the 4 new images")
base = base_url(env)

out = run("dashboard.mjs", base, "root", RT_EXECUTION=first["id"],
          RT_PARAM="Minimum-Untrained-Images", RT_PARAM_VALUE="4", RT_BAD_VALUE="-1")
check(out["execution"] == first["id"], "opened %r" % out["execution"])
check(out["path"][0] == "CHECK" and out["path"][-1] == "DONE", "path %r" % out["path"])
check(out["refused"], "no reason for the refused value")
check(out["failed_execution"] == failed["id"],
      "the failed training %s was not opened with its failed step in red and its error (%r)"
      % (failed["id"], out["failed_execution"]))
check(env.cli("params", "get", "Minimum-Untrained-Images").stdout.strip() == "4",
      "params get does not say 4")

second = env.wait_exec(lambda e: e["id"] != first["id"] and "MANIFEST" in
                       [s["state"] for s in e.get("steps", [])], 60,
                       "a training started by the new Minimum-Untrained-Images")
needed = (step_output(second, "CHECK") or {}).get("needed")
check(needed == 4, "the check that started it used needed=%r" % needed)
env.stop()
print("browser dashboard: ok (graph of %s, Minimum-Untrained-Images 10 -> 4 started %s; "
      "screenshots %s)" % (first["id"], second["id"], ", ".join(out["screenshots"])))
