#!/usr/bin/env python3
"""Checks a manifest file against SageMaker Ground Truth's formats, field by field.

Output manifests (the default) are image-classification lines as Ground Truth writes them and
Rekognition Custom Labels reads them (docs: /work/shared/docs/aws-wire.md 12.2 and 12.3):

  {"source-ref":"s3://bucket/key","<attr>":<class index>,"<attr>-metadata":{"class-name":"cat",
   "confidence":0.94,"human-annotated":"yes","creation-date":"2020-03-06T17:46:39.176",
   "type":"groundtruth/image-classification","job-name":"labeling-job/<name>"}}

Input manifests (--input) are {"source-ref":"s3://bucket/key"} lines (12.1).

As a script:  gt_manifest_check.py FILE [--input] [--attr NAME] [--job-name NAME] [--no-dataset]
prints one message per bad line ("FILE:LINE: what is wrong"; LINE 0 for the whole file) and
exits 0 when the file is good, 1 when it is not, 2 on a usage error.
As a module: check_bytes(data, ...) / check_file(path, ...) return a list of (line, message).
"""

import json
import math
import re
import sys

LINE_MAX = 100_000  # characters per line (12.1)
ATTR_VALUE_MAX = 20_000  # characters per attribute value (12.1)
FILE_MAX = 1 << 30  # bytes (12.3)
LINES_MAX = 250_000  # lines, blank and invalid ones included (12.3)
LABELS_MIN, LABELS_MAX = 2, 250  # unique labels of a classification dataset (12.3)
KEY_MAX = 1024  # bytes of an S3 key
TYPE = "groundtruth/image-classification"
META_KEYS = {"class-name", "confidence", "human-annotated", "creation-date", "type", "job-name"}
META_REQUIRED = ("class-name", "confidence", "human-annotated", "creation-date", "type")
# S3 bucket names (3-63 lowercase letters, digits, dots, hyphens; letter or digit at both ends).
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# Ground Truth's creation-date: UTC, no zone, an optional fraction of up to 6 digits.
DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?$")
# Ground Truth labeling job names (CreateLabelingJob's LabelingJobName).
JOB_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


class BadLine(Exception):
    pass


def _no_duplicates(pairs):
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise BadLine(f"duplicate member {json.dumps(k)}")
        seen[k] = v
    return seen


def _reject_constant(name):
    raise BadLine(f"{name} is not JSON")


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _utf8(s, what):
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise BadLine(f"{what} holds a lone surrogate (not UTF-8)")


def _control(s):
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in s)


def _valid_date(text):
    m = DATE_RE.match(text)
    if not m:
        return False
    y, mo, d, h, mi, s = (int(x) for x in m.groups()[:6])
    if not (1 <= mo <= 12 and 0 <= h <= 23 and 0 <= mi <= 59 and 0 <= s <= 59):
        return False
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1]
    return 1 <= d <= days


def _source_ref(obj):
    """Returns (bucket, key) of the line's source-ref."""
    if "source-ref" not in obj:
        raise BadLine('missing "source-ref"')
    ref = obj["source-ref"]
    if not isinstance(ref, str):
        raise BadLine('"source-ref" is not a string')
    _utf8(ref, '"source-ref"')
    if not ref.startswith("s3://"):
        raise BadLine('"source-ref" does not start with s3://')
    bucket, slash, key = ref[5:].partition("/")
    if not slash or not bucket:
        raise BadLine('"source-ref" has no bucket')
    if not BUCKET_RE.match(bucket) or ".." in bucket:
        raise BadLine(f'"source-ref" bucket {json.dumps(bucket)} is not an S3 bucket name')
    if not key:
        raise BadLine('"source-ref" has no key')
    if len(key.encode("utf-8")) > KEY_MAX:
        raise BadLine(f'"source-ref" key is longer than {KEY_MAX} bytes')
    if _control(key):
        raise BadLine('"source-ref" key holds a control character')
    return bucket, key


def _attributes(obj):
    """Attribute-name and value-size rules of every member (12.1)."""
    for name, value in obj.items():
        _utf8(name, "a member name")
        if name.startswith("$"):
            raise BadLine(f"member {json.dumps(name)} starts with $")
        size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
        if size > ATTR_VALUE_MAX:
            raise BadLine(f"member {json.dumps(name)} is longer than {ATTR_VALUE_MAX} characters")


def _label_pairs(obj, attr):
    """The label attributes of an output line: attr if given, else every X with X-metadata."""
    if attr is not None:
        if attr not in obj:
            raise BadLine(f"missing label attribute {json.dumps(attr)}")
        return [attr]
    found = [k for k in obj if k != "source-ref" and not k.endswith("-metadata")
             and k + "-metadata" in obj]
    for k in obj:
        if k.endswith("-metadata") and k[: -len("-metadata")] not in obj:
            raise BadLine(f"{json.dumps(k)} has no label attribute {json.dumps(k[:-9])}")
    if not found:
        raise BadLine("no label attribute with a -metadata object")
    return found


def _check_meta(attr, meta, job_name):
    """Returns the class-name after checking every member of <attr>-metadata."""
    where = json.dumps(attr + "-metadata")
    if not isinstance(meta, dict):
        raise BadLine(f"{where} is not an object")
    for k in META_REQUIRED:
        if k not in meta:
            raise BadLine(f'{where} is missing "{k}"')
    extra = sorted(set(meta) - META_KEYS)
    if extra:
        raise BadLine(f"{where} has members Ground Truth does not write: {', '.join(extra)}")
    name = meta["class-name"]
    if not isinstance(name, str) or not name:
        raise BadLine('"class-name" is not a non-empty string')
    _utf8(name, '"class-name"')
    if _control(name):
        raise BadLine('"class-name" holds a control character')
    conf = meta["confidence"]
    if not _is_number(conf) or not math.isfinite(conf) or not 0 <= conf <= 1:
        raise BadLine(f'"confidence" {json.dumps(conf)} is not a number in 0..1')
    if meta["human-annotated"] not in ("yes", "no"):
        raise BadLine(f'"human-annotated" {json.dumps(meta["human-annotated"])} is not "yes" '
                      'or "no"')
    date = meta["creation-date"]
    if not isinstance(date, str) or not _valid_date(date):
        raise BadLine(f'"creation-date" {json.dumps(date)} is not YYYY-MM-DDTHH:MM:SS[.ffffff] '
                      "(UTC, no zone)")
    if meta["type"] != TYPE:
        raise BadLine(f'"type" {json.dumps(meta["type"])} is not "{TYPE}"')
    if "job-name" in meta:
        job = meta["job-name"]
        if not isinstance(job, str) or not job.startswith("labeling-job/") or \
                not JOB_RE.match(job[len("labeling-job/"):]):
            raise BadLine(f'"job-name" {json.dumps(job)} is not "labeling-job/<name>" with a '
                          "Ground Truth job name")
        if job_name is not None and job != "labeling-job/" + job_name:
            raise BadLine(f'"job-name" {json.dumps(job)} is not "labeling-job/{job_name}"')
    elif job_name is not None:
        raise BadLine(f'{where} is missing "job-name"')
    return name


class _State:
    def __init__(self):
        self.bucket = None
        self.bucket_line = 0
        self.refs = {}  # source-ref -> first line
        self.index_of = {}  # (attr, class-name) -> (index, line)
        self.name_of = {}  # (attr, index) -> (class-name, line)
        self.labels = set()


def _check_line(text, no, st, input_mode, attr, job_name):
    if len(text) > LINE_MAX:
        raise BadLine(f"longer than {LINE_MAX} characters")
    if not text.strip():
        raise BadLine("blank line (Custom Labels counts it as an invalid line)")
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise BadLine(f"not valid JSON ({e.msg} at column {e.colno})")
    if not isinstance(obj, dict):
        raise BadLine("not a JSON object")
    _attributes(obj)
    bucket, key = _source_ref(obj)
    if st.bucket is None:
        st.bucket, st.bucket_line = bucket, no
    elif bucket != st.bucket:
        raise BadLine(f"bucket {json.dumps(bucket)} differs from {json.dumps(st.bucket)} of line "
                      f"{st.bucket_line} (one dataset, one bucket)")
    ref = obj["source-ref"]
    if ref in st.refs:
        raise BadLine(f"duplicate source-ref (first on line {st.refs[ref]})")
    st.refs[ref] = no
    if input_mode:
        return
    for a in _label_pairs(obj, attr):
        if a.endswith("-ref") or "-metadata" in a:
            raise BadLine(f"label attribute {json.dumps(a)} ends in -ref or holds -metadata")
        idx = obj[a]
        if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
            raise BadLine(f"label attribute {json.dumps(a)} is not a class index (integer >= 0)")
        if a + "-metadata" not in obj:
            raise BadLine(f'missing object {json.dumps(a + "-metadata")}')
        name = _check_meta(a, obj[a + "-metadata"], job_name)
        prev = st.index_of.get((a, name))
        if prev and prev[0] != idx:
            raise BadLine(f"class {json.dumps(name)} has index {idx} here and {prev[0]} on line "
                          f"{prev[1]}")
        prev = st.name_of.get((a, idx))
        if prev and prev[0] != name:
            raise BadLine(f"class index {idx} is {json.dumps(name)} here and "
                          f"{json.dumps(prev[0])} on line {prev[1]}")
        st.index_of.setdefault((a, name), (idx, no))
        st.name_of.setdefault((a, idx), (name, no))
        st.labels.add(name)


def check_bytes(data, input_mode=False, attr=None, job_name=None, dataset=True):
    """Returns [(line number, message)] for every bad line; line 0 is the whole file."""
    problems = []
    if len(data) > FILE_MAX:
        problems.append((0, f"larger than {FILE_MAX} bytes"))
    if data.startswith(b"\xef\xbb\xbf"):
        problems.append((1, "starts with a byte order mark"))
        data = data[3:]
    if data.endswith(b"\n"):
        data = data[:-1]
    raw_lines = data.split(b"\n") if data else []
    if len(raw_lines) > LINES_MAX:
        problems.append((0, f"{len(raw_lines)} lines, more than {LINES_MAX}"))
    if not raw_lines:
        problems.append((0, "no lines"))
    st = _State()
    for no, raw in enumerate(raw_lines, 1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            text = raw.decode("utf-8")
            _check_line(text, no, st, input_mode, attr, job_name)
        except UnicodeDecodeError as e:
            problems.append((no, f"not UTF-8 (byte {e.start + 1})"))
        except BadLine as e:
            problems.append((no, str(e)))
        except RecursionError:
            problems.append((no, "nested too deeply"))
    if dataset and not input_mode and raw_lines:
        n = len(st.labels)
        if not LABELS_MIN <= n <= LABELS_MAX:
            problems.append((0, f"{n} label(s); a classification dataset needs {LABELS_MIN} to "
                                f"{LABELS_MAX}"))
    return problems


def check_file(path, **kw):
    with open(path, "rb") as f:
        return check_bytes(f.read(), **kw)


def main(argv):
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("file")
    p.add_argument("--input", action="store_true", help="an input manifest (source-ref lines)")
    p.add_argument("--attr", help="the label attribute every line must carry")
    p.add_argument("--job-name", help='every job-name must be "labeling-job/<this>"')
    p.add_argument("--no-dataset", action="store_true",
                   help="skip the whole-file label count (2..250)")
    a = p.parse_args(argv)
    try:
        problems = check_file(a.file, input_mode=a.input, attr=a.attr, job_name=a.job_name,
                              dataset=not a.no_dataset)
    except OSError as e:
        print(f"{a.file}: {e.strerror}", file=sys.stderr)
        return 1
    for no, msg in problems:
        print(f"{a.file}:{no}: {msg}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
