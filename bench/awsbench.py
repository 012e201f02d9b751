"""awsbench - what bench_aws_calls.py and bench_detect_throttled.py share: the daemon on every AWS
driver against the aws-twin (tests/integration/aws_scenario.py's Scenario), a first version
trained and deployed, and the twin's request log read back.

Run from the source tree: the build folder is the first argument (default build)."""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)


def setup_paths(build):
    """Points the test helpers at the build (they read these at import)."""
    build = os.path.abspath(build)
    os.environ.setdefault("RETRAIND_BIN", os.path.join(build, "retraind"))
    os.environ.setdefault("RETRAIND_BUILD", build)
    os.environ.setdefault("RETRAIND_SRC", SRC)
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    sys.path.insert(0, os.path.join(SRC, "tests", "integration"))


def deployed(sc, env, labels=("stripes", "circles"), per_label=5):
    """Ten labeled images, a training triggered, waited for until its version serves."""
    sc.put_images("images_labeled_by_folder/", list(labels), per_label, 0)
    env.cli("trigger", "training")
    env.wait_exec(lambda e: e["state"] in ("DONE", "FAILED", "FAILED_F1"), 120,
                  "the first training")
    check_done = [e for e in env.history("--workflow", "training") if e["state"] == "DONE"]
    if not check_done:
        print("FAIL: the first training was not deployed", flush=True)
        sys.exit(1)


def daemon_calls(log, start=0):
    """The daemon's signed requests (User-Agent retraind/) in the twin's log from index start,
    each as (service, operation, detail): S3 operations by method and path (the prefix listed,
    or the first path segment of the key), the X-Amz-Target operation for json services, the
    Action of query ones."""
    out = []
    for e in log[start:]:
        h = e.get("headers") or {}
        if not str(h.get("user-agent", "")).startswith("retraind/"):
            continue
        route = e.get("route")
        url = e.get("url", "")
        if route == "s3":
            path, _, query = url.partition("?")
            parts = path.lstrip("/").split("/", 2)
            key = parts[1] if len(parts) > 1 else ""
            if e["method"] == "GET" and "list-type=2" in query:
                prefix = ""
                for kv in query.split("&"):
                    if kv.startswith("prefix="):
                        prefix = kv[len("prefix="):].replace("%2F", "/")
                out.append(("s3", "ListObjectsV2", prefix.split("/")[0]))
            else:
                op = {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(
                    e["method"], "CopyObject" if h.get("x-amz-copy-source") else "PutObject")
                out.append(("s3", op, key))
        elif e.get("target"):
            out.append((route, e["target"].split(".")[-1], ""))
        else:
            out.append((route, e["method"] + " " + url.split("?")[0].split("/")[1], ""))
    return out


def wait(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    print("FAIL: timed out waiting for " + what, flush=True)
    sys.exit(1)
