#!/usr/bin/env python3
"""Self-test of gt_manifest_check.py: good manifests pass; each kind of bad line is caught, by
line number, and nothing else is reported; the script's exit codes and messages."""

import copy
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gt_manifest_check as gt  # noqa: E402

failures = []


def line(key, label, idx, **meta_over):
    meta = {"class-name": label, "confidence": 0.94, "human-annotated": "yes",
            "creation-date": "2020-03-06T17:46:39.176", "type": gt.TYPE,
            "job-name": "labeling-job/cats-dogs"}
    meta.update(meta_over)
    return {"source-ref": f"s3://my-bucket/{key}", "retraind": idx, "retraind-metadata": meta}


def good_lines():
    return [line("unlabeled/a.png", "cat", 0),
            line("unlabeled/b b\"%20\u00fc.jpg", "dog", 1, confidence=1,
                 **{"human-annotated": "no"}),
            line("unlabeled/c.png", "cat", 0, confidence=0,
                 **{"creation-date": "2019-01-08T06:18:00.123193"}),
            line("unlabeled/d.png", "dog", 1, **{"creation-date": "2024-02-29T23:59:59"})]


def encode(objs):
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs).encode("utf-8")


def expect(name, data, want, **kw):
    """want: list of (line, substring); the problems must match it exactly, in order."""
    got = gt.check_bytes(data, **kw)
    ok = len(got) == len(want) and all(g[0] == w[0] and w[1] in g[1] for g, w in zip(got, want))
    if not ok:
        failures.append(f"{name}: want {want}, got {got}")


def bad(name, mutate, want, lineno=3, **kw):
    """Applies mutate to line `lineno` (1-based) of the good manifest; one problem expected."""
    objs = good_lines()
    o = copy.deepcopy(objs[lineno - 1])
    r = mutate(o)
    objs[lineno - 1] = o if r is None else r
    data = r if isinstance(r, bytes) else None
    if data is None:
        data = encode(objs)
    expect(name, data, [(lineno, want)], **kw)


def setm(k, v):
    def f(o):
        o["retraind-metadata"][k] = v
    return f


def delm(k):
    def f(o):
        del o["retraind-metadata"][k]
    return f


# Good manifests pass: output (CRLF and a missing last newline too), input, and given options.
expect("good", encode(good_lines()), [])
expect("good crlf", encode(good_lines()).replace(b"\n", b"\r\n").rstrip(b"\r\n"), [])
expect("good attr+job", encode(good_lines()), [], attr="retraind", job_name="cats-dogs")
no_job = good_lines()
for o in no_job:
    del o["retraind-metadata"]["job-name"]
expect("job-name optional", encode(no_job), [])
inp = encode([{"source-ref": "s3://my-bucket/unlabeled/a.png"},
              {"source-ref": "s3://my-bucket/unlabeled/b b\"\u00fc.png", "pass": "through"}])
expect("good input", inp, [], input_mode=True)
expect("good sample attr", encode([
    {"source-ref": "s3://b-1/x/aws-1.png", "rekongition-custom-labels-brand-detection": 1,
     "rekongition-custom-labels-brand-detection-metadata": {
         "class-name": "aws_logo", "confidence": 1, "human-annotated": "yes",
         "creation-date": "2020-03-06T17:46:39.176", "type": gt.TYPE,
         "job-name": "labeling-job/retraind"}},
    {"source-ref": "s3://b-1/x/b.png", "rekongition-custom-labels-brand-detection": 0,
     "rekongition-custom-labels-brand-detection-metadata": {
         "class-name": "other", "confidence": 0.5, "human-annotated": "no",
         "creation-date": "2020-03-06T17:46:39.176", "type": gt.TYPE}}]), [])

# Each kind of bad line, on line 3 of an otherwise good manifest.
bad("not json", lambda o: encode(good_lines()[:2]) + b"{nope\n" + encode(good_lines()[3:]),
    "not valid JSON")
bad("not object", lambda o: encode(good_lines()[:2]) + b"[1]\n" + encode(good_lines()[3:]),
    "not a JSON object")
bad("blank", lambda o: encode(good_lines()[:2]) + b"\n" + encode(good_lines()[3:]), "blank line")
bad("not utf-8", lambda o: encode(good_lines()[:2]) + b'{"source-ref":"s3://my-bucket/\xff"}\n'
    + encode(good_lines()[3:]), "not UTF-8")
bad("lone surrogate", lambda o: encode(good_lines()[:2])
    + b'{"source-ref":"s3://my-bucket/\\ud800","retraind":0}\n' + encode(good_lines()[3:]),
    "lone surrogate")
bad("NaN", lambda o: encode(good_lines()[:2]) + json.dumps(
    line("k.png", "cat", 0, confidence=float("nan"))).encode() + b"\n" + encode(good_lines()[3:]),
    "NaN is not JSON")
bad("duplicate member", lambda o: encode(good_lines()[:2])
    + b'{"source-ref":"s3://my-bucket/z","source-ref":"s3://my-bucket/y"}\n'
    + encode(good_lines()[3:]), "duplicate member")
bad("too long", lambda o: o.update({"note": "x" * 19_000, "note2": "y" * 19_000,
                                    "note3": "z" * 19_000, "note4": "w" * 19_000,
                                    "note5": "v" * 19_000, "note6": "u" * 19_000}),
    "longer than 100000")
bad("attr value too long", lambda o: o.update({"note": "x" * 20_001}), "longer than 20000")
bad("dollar attr", lambda o: o.update({"$x": 1}), "starts with $")
bad("no source-ref", lambda o: (o.pop("source-ref"), None)[1], 'missing "source-ref"')
bad("source-ref number", lambda o: o.update({"source-ref": 5}), "not a string")
bad("source-ref http", lambda o: o.update({"source-ref": "https://my-bucket/k"}), "s3://")
bad("no bucket", lambda o: o.update({"source-ref": "s3:///k"}), "no bucket")
bad("no key", lambda o: o.update({"source-ref": "s3://my-bucket/"}), "no key")
bad("bucket name", lambda o: o.update({"source-ref": "s3://My_Bucket/k"}), "not an S3 bucket")
bad("key control", lambda o: o.update({"source-ref": "s3://my-bucket/a\nb"}), "control")
bad("key too long", lambda o: o.update({"source-ref": "s3://my-bucket/" + "k" * 1025}),
    "longer than 1024")
bad("other bucket", lambda o: o.update({"source-ref": "s3://other-bucket/k.png"}),
    'differs from "my-bucket" of line 1')
bad("duplicate source-ref", lambda o: o.update({"source-ref": "s3://my-bucket/unlabeled/a.png"}),
    "duplicate source-ref (first on line 1)")
bad("no attribute", lambda o: {"source-ref": o["source-ref"]}, "no label attribute")
bad("metadata without attribute", lambda o: (o.pop("retraind"), None)[1], "has no label attribute")
bad("attr not given", lambda o: {"source-ref": o["source-ref"], "x": 0,
                                 "x-metadata": o["retraind-metadata"]},
    'missing label attribute "retraind"', attr="retraind")
bad("attr -ref", lambda o: {"source-ref": o["source-ref"], "x-ref": 0,
                            "x-ref-metadata": o["retraind-metadata"]}, "ends in -ref")
bad("index string", lambda o: o.update({"retraind": "0"}), "class index")
bad("index float", lambda o: o.update({"retraind": 0.0}), "class index")
bad("index negative", lambda o: o.update({"retraind": -1}), "class index")
bad("index bool", lambda o: o.update({"retraind": True}), "class index")
bad("metadata not object", lambda o: o.update({"retraind-metadata": "cat"}), "not an object")
for k in gt.META_REQUIRED:
    bad("missing " + k, delm(k), f'missing "{k}"')
bad("extra metadata", setm("class-map", {}), "does not write: class-map")
bad("class-name empty", setm("class-name", ""), "class-name")
bad("class-name number", setm("class-name", 3), "class-name")
bad("class-name control", setm("class-name", "c\tat"), "control")
bad("confidence > 1", setm("confidence", 1.5), '"confidence" 1.5 is not')
bad("confidence < 0", setm("confidence", -0.1), "confidence")
bad("confidence string", setm("confidence", "0.9"), "confidence")
bad("confidence bool", setm("confidence", True), "confidence")
bad("human-annotated", setm("human-annotated", "Yes"), "human-annotated")
bad("human-annotated bool", setm("human-annotated", True), "human-annotated")
bad("date with Z", setm("creation-date", "2020-03-06T17:46:39.176Z"), "creation-date")
bad("date with offset", setm("creation-date", "2020-03-06T17:46:39+00:00"), "creation-date")
bad("date space", setm("creation-date", "2020-03-06 17:46:39.176"), "creation-date")
bad("date 7 digits", setm("creation-date", "2020-03-06T17:46:39.1234567"), "creation-date")
bad("date Feb 30", setm("creation-date", "2020-02-30T17:46:39.176"), "creation-date")
bad("date Feb 29 2019", setm("creation-date", "2019-02-29T00:00:00"), "creation-date")
bad("date hour 24", setm("creation-date", "2020-03-06T24:00:00"), "creation-date")
bad("date number", setm("creation-date", 1583516799), "creation-date")
bad("type", setm("type", "groundtruth/object-detection"), '"type"')
bad("job-name prefix", setm("job-name", "cats-dogs"), "labeling-job/")
bad("job-name chars", setm("job-name", "labeling-job/cats_dogs"), "labeling-job/")
bad("job-name other", setm("job-name", "labeling-job/other"), '"labeling-job/cats-dogs"',
    job_name="cats-dogs")
bad("job-name required when given", delm("job-name"), 'missing "job-name"', job_name="cats-dogs")
bad("class index clash", lambda o: o.update({"retraind": 1}), "has index 1 here and 0 on line 1")
bad("class name clash", lambda o: o.update(line("unlabeled/c.png", "bird", 0)),
    'class index 0 is "bird" here and "cat" on line 1')
bad("input without source-ref", lambda o: {"source": "text"}, 'missing "source-ref"',
    input_mode=True)

# Whole-file problems are line 0; several bad lines are all reported, in order.
expect("one label", encode([line("a.png", "cat", 0), line("b.png", "cat", 0)]),
       [(0, "1 label(s)")])
expect("one label, no dataset check", encode([line("a.png", "cat", 0)]), [], dataset=False)
expect("empty", b"", [(0, "no lines")])
expect("bom", b"\xef\xbb\xbf" + encode(good_lines()), [(1, "byte order mark")])
two_bad = good_lines()
two_bad[0]["retraind-metadata"]["confidence"] = 2
two_bad[3]["retraind-metadata"]["type"] = "x"
expect("two bad", encode(two_bad), [(1, "confidence"), (4, '"type"')])

# The script: exit 0 on a good file, 1 with "FILE:LINE: message" per bad line, usable as -m.
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "out.manifest")
    with open(path, "wb") as f:
        f.write(encode(good_lines()))
    script = os.path.join(HERE, "gt_manifest_check.py")
    r = subprocess.run([sys.executable, script, path, "--job-name", "cats-dogs"],
                       capture_output=True, text=True)
    if r.returncode != 0 or r.stdout:
        failures.append(f"script good: rc {r.returncode} {r.stdout!r}")
    with open(path, "wb") as f:
        f.write(encode(two_bad))
    r = subprocess.run([sys.executable, script, path], capture_output=True, text=True)
    out = r.stdout.splitlines()
    if r.returncode != 1 or len(out) != 2 or not out[0].startswith(path + ":1: ") or \
            not out[1].startswith(path + ":4: "):
        failures.append(f"script bad: rc {r.returncode} {r.stdout!r}")
    r = subprocess.run([sys.executable, script, os.path.join(tmp, "missing")],
                       capture_output=True, text=True)
    if r.returncode != 1:
        failures.append(f"script missing file: rc {r.returncode}")

for f in failures:
    print("FAIL", f)
print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
