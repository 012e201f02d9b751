#!/usr/bin/env python3
"""bench_detect_throttled.py - detections per second against a model that allows N
DetectCustomLabels per second per inference unit (issue #9 benchmark: target >= 95% of N with no
detection failed by throttling).

    python3 bench/bench_detect_throttled.py [BUILD_DIR] [N] [UNITS] [LATENCY_MS] [SECONDS]
                                            (build, 10, 1, 100, 30)

The daemon runs on every AWS driver against the aws-twin, whose Rekognition admits N x UNITS
calls per second per version (a token bucket with one second of burst; above it
ThrottlingException) and answers each admitted call LATENCY_MS later, as a model takes time.
After a first version is deployed (with Minimum-Inference-Units UNITS), N x UNITS x SECONDS
images are put into images_for_detection/; the rate is the admitted calls, less the bucket's
initial second of burst, over the time from the first to the last DetectCustomLabels (the
twin's log), beside N x UNITS. Printed:
that rate and its share of the allowance, the throttled answers, the failed detections.
Prints figures; never passes or fails.
"""
import sys
import time

from awsbench import deployed, setup_paths, wait

build = sys.argv[1] if len(sys.argv) > 1 else "build"
rate = int(sys.argv[2]) if len(sys.argv) > 2 else 10
units = int(sys.argv[3]) if len(sys.argv) > 3 else 1
latency = int(sys.argv[4]) if len(sys.argv) > 4 else 100
seconds = int(sys.argv[5]) if len(sys.argv) > 5 else 30
setup_paths(build)

from aws_scenario import Scenario  # noqa: E402

allowed = rate * units
images = allowed * seconds
images += images % 2
sc = Scenario()
try:
    sc.setup()
    sc.control("rekognition/config", {"train_ms": 300, "start_ms": 300, "f1_queue": [],
                                      "detect_rate": rate, "detect_latency_ms": latency})
    env = sc.env = sc.make_env(scan="1s", flush="5s", poll="10m", concurrency=8, refresh="60s")
    env.set_config(env.config().replace("Minimum-Inference-Units: 1",
                                        "Minimum-Inference-Units: %d" % units))
    env.start(env=sc.daemon_env())
    deployed(sc, env)
    start = len(sc.twin.control("log", method="GET"))
    sc.put_images("images_for_detection/", ["stripes", "circles"], images // 2, 1000,
                  rename=lambda label, name: "%s-%s" % (label, name))

    def ended():
        ds = env.history("--workflow", "detection", "--limit", str(images + 10))
        return [e for e in ds if e["state"] in ("ACCEPTED", "FAILED")]

    ds = wait(lambda: (lambda d: d if len(d) >= images else None)(ended()), seconds * 3 + 60,
              "%d detections" % images)
    log = sc.twin.control("log", method="GET")[start:]
    counts = sc.control("rekognition/state")["counts"]
    throttled_logged = env.log_count(r"event=detection_throttled")
    slowdowns = env.log_count(r"event=detect_slowdown")
finally:
    sc.close()

# Admitted calls: DetectCustomLabels requests the twin did not throttle. The log has every call
# with its arrival time; the route's counts say how many were throttled.
detect = [e for e in log if (e.get("target") or "").endswith("DetectCustomLabels")]
answered = counts.get("DetectAnswered", 0)
throttled = counts.get("DetectThrottled", 0)
failed = [e for e in ds if e["state"] == "FAILED"]
span = (detect[-1]["time_ms"] - detect[0]["time_ms"]) / 1000.0 if len(detect) > 1 else 0
# The bucket starts full: one second of allowance comes on top of the rate; leave it out.
got = (answered - allowed) / span if span > 0 else 0
print("allowance: %d calls/s per unit x %d unit(s) = %d/s; answers take %d ms" %
      (rate, units, allowed, latency))
print("images: %d; DetectCustomLabels calls %d (%d answered, %d throttled by the twin)" %
      (images, len(detect), answered, throttled))
print("detections/s: %.2f over %.1f s = %.1f%% of the allowance   target >= 95%%" %
      (got, span, 100.0 * got / allowed))
print("failed detections: %d   target 0; detections that waited for throttling: %d; "
      "slowdowns: %d" % (len(failed), throttled_logged, slowdowns))
