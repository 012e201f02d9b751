#!/usr/bin/env python3
"""bench_aws_calls.py - AWS calls per detected image on the detection path (issue #9 benchmark;
target <= 1.05; the reference solution makes about 6: DetectCustomLabels, three GetParameter, a
DynamoDB PutItem, an SNS Publish, plus Step Functions transitions).

    python3 bench/bench_aws_calls.py [BUILD_DIR] [IMAGES] [SCAN]      (build, 1000, 10s)

The daemon runs on every AWS driver (store s3, params ssm, engine rekognition, review a2i,
notify sns) against the aws-twin, with the defaults that shape the figure (store.scan SCAN,
detection.results_flush 60s, parameters.refresh 60s). After a first version is deployed, IMAGES
images are put into images_for_detection/ (by boto3, not counted) and every signed request the
daemon makes (User-Agent retraind/, read from the twin's request log) is counted until the last
result line is written. Printed: calls by operation; the detection path (DetectCustomLabels,
reads of the images, listings of images_for_detection/, result writes, notifications) per image;
everything the daemon called in the window per image. Prints figures; never passes or fails.
"""
import sys
import time

from awsbench import daemon_calls, deployed, setup_paths, wait

build = sys.argv[1] if len(sys.argv) > 1 else "build"
images = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
scan = sys.argv[3] if len(sys.argv) > 3 else "10s"
setup_paths(build)

from aws_scenario import Scenario  # noqa: E402

sc = Scenario()
try:
    sc.setup()
    sc.control("rekognition/config", {"train_ms": 300, "start_ms": 300, "f1_queue": []})
    env = sc.env = sc.make_env(scan=scan, flush="60s", poll="10m", concurrency=8, refresh="60s")
    env.start(env=sc.daemon_env())
    deployed(sc, env)
    time.sleep(2)
    start = len(sc.twin.control("log", method="GET"))
    t0 = time.time()
    sc.put_images("images_for_detection/", ["stripes", "circles"], images // 2, 1000,
                  rename=lambda label, name: "%s-%s" % (label, name))
    put_s = time.time() - t0

    def done():
        ds = env.history("--workflow", "detection", "--limit", str(images + 10))
        return len([e for e in ds if e["state"] in ("ACCEPTED", "FAILED")]) >= images

    wait(done, 600, "%d detections" % images)
    wait(lambda: len(sc.result_lines()) >= images, 180, "the result lines")
    elapsed = time.time() - t0
    calls = daemon_calls(sc.twin.control("log", method="GET"), start)
finally:
    sc.close()

by_op = {}
for svc, op, detail in calls:
    k = "%s %s%s" % (svc, op, " " + detail + "/" if detail and op == "ListObjectsV2" else "")
    by_op[k] = by_op.get(k, 0) + 1
path = [c for c in calls
        if (c[0] == "rekognition" and c[1] == "DetectCustomLabels")
        or (c[0] == "s3" and c[1] == "GetObject" and c[2] == "images_for_detection")
        or (c[0] == "s3" and c[1] == "ListObjectsV2" and c[2] == "images_for_detection")
        or (c[0] == "s3" and c[1] == "PutObject" and c[2] == "detection-results")
        or c[0] == "sns"]
print("images detected: %d in %.1f s (uploads %.1f s of it); store.scan %s" %
      (images, elapsed, put_s, scan))
print("daemon calls in the window, by operation:")
for k in sorted(by_op):
    print("  %-48s %6d  %.3f per image" % (k, by_op[k], by_op[k] / images))
print("detection path: %d calls, %.3f per detected image   target <= 1.05 (reference ~6)"
      % (len(path), len(path) / images))
print("everything the daemon called in the window: %.3f per image" % (len(calls) / images))
