#!/usr/bin/env python3
"""sqs_events.py - event-driven detection: the daemon on the s3 store with store.events_queue
learns new detection images from S3 event notifications read from SQS (the aws-twin's
routes/sqs.js, every request signature-checked with @smithy/signature-v4), and the listing
(store.scan: 1h) is only the safety net.

The twin's s3rver holds the bucket; `sqs/notify` makes the twin send S3's event JSON (key
form-encoded) into the queue for every PutObject under images_for_detection/, as S3 does. The
engine is the twin's Rekognition (images are a few bytes: nothing decodes them).

1. A model is trained and deployed; an image put before the start is both listed and announced
   by an event: one detection.
2. A test event, a garbage message and five images (names with a space, '+' and unicode): the
   five are detected through events alone (ReceiveMessage calls, no new ListObjectsV2 of
   images_for_detection/), the test event is deleted, the garbage message is left in the queue
   (logged, not deleted).
3. A duplicate event for a detected image: deleted, no second detection.
4. kill -9 after the row is journaled but before DeleteMessage (the twin holds deletes): after a
   restart the message comes back after its visibility timeout and is deleted; one detection.
5. A stop with a long poll in flight is prompt (the poll is cancelled).
Skips (77) without node, the twin's npm packages or boto3.
"""
import hashlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rtlib import Env, check  # noqa: E402
from twinlib import Twin, skip  # noqa: E402

try:
    import boto3
    from botocore.config import Config
except ImportError:
    skip("python3-boto3 not installed")

BUCKET = "rt-sqs-events"
AK, SK = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DET = "images_for_detection/"

os.environ["NODE_OPTIONS"] = "--openssl-legacy-provider"  # s3rver's continuation tokens
twin = Twin("--s3rver", "--bucket", BUCKET)
control = twin.control
for k in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
          "AWS_ENDPOINT_URL_SQS", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(k, None)
os.environ.update(AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK, AWS_EC2_METADATA_DISABLED="true",
                  AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent")
s3 = boto3.client("s3", endpoint_url=twin.base, region_name="us-east-1",
                  aws_access_key_id=AK, aws_secret_access_key=SK,
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

queue = control("sqs/create", {"name": "detections", "visibility": 30})["url"]
control("sqs/notify", {"bucket": BUCKET, "prefix": DET, "queue": "detections"})
control("sqs/visibility_cap", {"seconds": 3})  # redelivery after a crash within seconds
control("rekognition/project", {"name": "P"})
control("rekognition/config", {"train_ms": 300, "start_ms": 300, "stop_ms": 300,
                               "f1_queue": [0.95],
                               "default_labels": [{"Name": "stripes", "Confidence": 91.0}]})

env = Env(poll="1s", min_untrained=10)
cfg = env.config().replace(
    "store: { driver: local, root: bucket }",
    "store: { driver: s3, bucket: %s, path_style: true, scan: 1h, events_queue: \"%s\" }"
    % (BUCKET, queue))
cfg = cfg.replace("  defaults:\n", "  defaults:\n    Enable-A2I-Workflow: false\n"
                  "    Minimum-Label-Detection-Confidence: 70\n")
cfg += ("engine: { driver: rekognition, project: P, status_poll: 1s }\n"
        "aws: { region: us-east-1, max_attempts: 3, endpoints: { s3: \"%s\", rekognition: \"%s\","
        " sqs: \"%s\" } }\n"
        "detection: { concurrency: 4, results_flush: 1s }\n" % (twin.base, twin.base, twin.base))
env.set_config(cfg)


def put(key, body):
    s3.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType="image/jpeg")
    return hashlib.md5(body).hexdigest()


def counts():
    return control("sqs/counts")


def queued_messages():
    return control("sqs/messages", {"queue": "detections"})


def detect_calls():
    reqs = control("rekognition/state")["requests"]
    return [r["input"]["Image"]["S3Object"]["Name"] for r in reqs
            if r["op"] == "DetectCustomLabels"]


def detections():
    return env.history("--workflow", "detection", "--limit", "1000")


def finished():
    return [e for e in detections() if e["state"] in ("ACCEPTED", "FAILED", "DUPLICATE")]


def det_listings():
    return [r for r in control("log", method="GET")
            if r.get("route") == "s3" and r["method"] == "GET" and "list-type=2" in r["url"]
            and "prefix=images_for_detection" in r["url"]]


try:
    for label in ("stripes", "circles"):
        for i in range(6):
            put("images_labeled_by_folder/%s/%s-%d.png" % (label, label, i),
                b"png %s %d" % (label.encode(), i))
    pre = DET + "pre.jpg"
    put(pre, b"pre image")  # announced by an event (already in the queue) and listed at start
    env.start()
    env.wait_exec(lambda e: e["state"] == "DONE", 120, "a model to be deployed")
    env.wait_for(lambda: len(finished()) >= 1, 60, "the image put before the start")
    check(env.log_count(r"event=sqs_events_started") == 1, "the queue is not read")

    # 2. Events alone: a test event, a garbage message, five images.
    lists_before = len(det_listings())
    receives_before = counts()["ReceiveMessage"]
    control("sqs/test_event", {"queue": "detections", "bucket": BUCKET})
    control("sqs/send", {"queue": "detections", "body": "this is not an S3 event {"})
    names = [DET + n for n in ("a b.jpg", "c+d.jpg", "é ü.png", "sub/e.jpeg", "f.JPG")]
    etags = {}
    for i, k in enumerate(names):
        etags[k] = put(k, b"image %d" % i)
    put(DET + "notes.txt", b"not an image")  # an event, deleted, no detection
    env.wait_for(lambda: len(finished()) >= 6, 60, "six detections")
    time.sleep(1.5)
    ds = finished()
    check(len(ds) == 6, "%d detections for 6 images" % len(ds))
    check(all(e["state"] == "ACCEPTED" for e in ds), "states %r" % [e["state"] for e in ds])
    calls = detect_calls()
    check(sorted(calls) == sorted([pre] + names), "DetectCustomLabels keys %r" % calls)
    check(len(det_listings()) == lists_before,
          "images_for_detection/ was listed again: %d -> %d" % (lists_before, len(det_listings())))
    check(counts()["ReceiveMessage"] > receives_before, "no ReceiveMessage")
    left = queued_messages()
    check(len(left) == 1 and left[0]["body"].startswith("this is not"),
          "the queue holds %r (only the garbage message should stay)" % left)
    check(left[0]["receive_count"] >= 1, "the garbage message was never received")
    check(env.log_count(r"event=sqs_message_malformed") >= 1, "the garbage message not logged")
    check(env.log_count(r"event=sqs_test_event") == 1, "the test event not seen")

    # 3. A duplicate event of a detected image: deleted, not detected again.
    deleted = counts()["deleted"]
    control("sqs/s3_event", {"queue": "detections", "bucket": BUCKET, "key": names[1],
                             "etag": etags[names[1]], "size": 7})
    env.wait_for(lambda: counts()["deleted"] > deleted, 30, "the duplicate to be deleted")
    time.sleep(1.5)
    check(len(finished()) == 6, "a duplicate event was detected again")
    check(len(detect_calls()) == 6, "DetectCustomLabels calls %r" % detect_calls())

    # 4. kill -9 between the journal commit and DeleteMessage.
    control("sqs/hold_deletes", {"on": True})
    held = counts()["held_deletes"]
    k9 = DET + "crash me.jpg"
    put(k9, b"crash image")
    env.wait_for(lambda: counts()["held_deletes"] > held, 30, "the DeleteMessage after the commit")
    env.kill()
    control("sqs/hold_deletes", {"on": False})
    check(any(m["body"].find("crash+me.jpg") >= 0 for m in queued_messages()),
          "the crashed message is not in the queue any more")
    deleted = counts()["deleted"]
    env.start()
    env.wait_for(lambda: not any(m["body"].find("crash+me.jpg") >= 0 for m in queued_messages()),
                 60, "the redelivered message to be deleted")
    env.wait_for(lambda: len(finished()) >= 7, 60, "the crashed image's detection")
    time.sleep(1.5)
    check(len(finished()) == 7, "%d detections after the crash (7 wanted)" % len(finished()))
    check(detect_calls().count(k9) == 1, "the crashed image was detected %d times"
          % detect_calls().count(k9))
    check(counts()["deleted"] > deleted, "nothing deleted after the restart")

    # 5. A stop while a long poll waits is prompt.
    time.sleep(1)
    dropped = counts()["dropped_polls"]
    t0 = time.time()
    env.stop()
    took = time.time() - t0
    check(took < 5, "the stop took %.1f s with a long poll in flight" % took)
    deadline = time.time() + 5
    while counts()["dropped_polls"] <= dropped and time.time() < deadline:
        time.sleep(0.1)
    check(counts()["dropped_polls"] > dropped, "the long poll was not cancelled at the stop")
finally:
    twin.close()
print("sqs events: ok")
