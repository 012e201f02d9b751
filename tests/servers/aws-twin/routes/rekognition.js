// rekognition.js - aws-twin route module: a small Rekognition Custom Labels (json 1.1,
// X-Amz-Target RekognitionService.<Op>, signing name "rekognition"), served through signed():
// every request reaching it had its SigV4 signature verified and the queued faults applied
// (a {"throttle": true} fault answers ThrottlingException; {"status": 400, "code":
// "ProvisionedThroughputExceededException"} the model-capacity error).
//
// Operations: DescribeProjects, CreateProject, CreateProjectVersion, DescribeProjectVersions,
// StartProjectVersion, StopProjectVersion, DetectCustomLabels. Versions move by time:
//   CreateProjectVersion -> TRAINING_IN_PROGRESS --train_ms--> TRAINING_COMPLETED (or
//   TRAINING_FAILED when the version is in fail_versions)
//   StartProjectVersion  -> STARTING --start_ms--> RUNNING
//   StopProjectVersion   -> STOPPING --stop_ms--> STOPPED
// Start of a version that is not TRAINING_COMPLETED/STOPPED, stop of one that is not
// RUNNING/STARTING, and a second CreateProjectVersion of a name are ResourceInUseException;
// DetectCustomLabels on a version that is not RUNNING is ResourceNotReadyException.
// The twin does not read images: DetectCustomLabels answers the labels configured for the
// S3 object's Name (labels), or for the SHA-256 (hex) of Image.Bytes (bytes_labels), else
// default_labels; those under MinConfidence are left out.
//
// Control (POST /__control/rekognition/<verb>):
//   config {train_ms, start_ms, stop_ms, f1, f1_queue: [..] (consumed one per new version),
//           f1_by_version: {name: f1}, fail_versions: {name: message}, labels: {key: [{Name,
//           Confidence}]}, bytes_labels: {sha256: [...]}, default_labels: [...],
//           throttle_detect: N (the next N DetectCustomLabels of a RUNNING version answer
//           ProvisionedThroughputExceededException), detect_rate: N (DetectCustomLabels per
//           second per inference unit, a token bucket; above it ThrottlingException, counted
//           as counts.DetectThrottled), detect_latency_ms: ms (each admitted detection answers
//           that much later; counts.DetectAnswered)}  merges
//   project {name}      -> {arn}: creates a project (as CreateProject)
//   version {project, name, status, f1} -> {arn}: a version made elsewhere (a reference-solution
//                          deployment's), in that status from the start
//   state {}            -> {projects: {name: {arn, versions: {vname: {...}}}}, counts: {op: n},
//                           requests: [{op, input}] (every verified request, in order),
//                           events: [{op: start|stop, version, status, others_running, t}]}
"use strict";

const crypto = require("crypto");

const NAME = "rekognition";
const ACCOUNT = "123456789012";

function st(ctx) {
  if (!ctx.state[NAME]) {
    ctx.state[NAME] = {
      cfg: { train_ms: 300, start_ms: 300, stop_ms: 300, f1: 0.95, f1_queue: [], f1_by_version: {},
             fail_versions: {}, labels: {}, bytes_labels: {}, default_labels: [],
             throttle_detect: 0 },
      projects: new Map(),
      counts: {},
      requests: [],
      events: [],
      seq: 0,
    };
  }
  return ctx.state[NAME];
}

function newProject(s, ctx, name) {
  s.seq += 1;
  const p = { name, arn: `arn:aws:rekognition:${ctx.region}:${ACCOUNT}:project/${name}/${1700000000000 + s.seq}`,
              created: Date.now() / 1000, versions: new Map() };
  s.projects.set(name, p);
  return p;
}

function advance(v) {
  const now = Date.now();
  while (v.next && now >= v.next_at) {
    v.status = v.next;
    v.next = null;
    if (v.status === "RUNNING") v.started_at = now;
    if (v.status === "STOPPED" && v.started_at) {
      v.running_ms += now - v.started_at;
      v.started_at = 0;
    }
  }
}

function move(v, now, then, ms) {
  v.status = now;
  v.next = then;
  v.next_at = Date.now() + ms;
}

function byArn(s, arn) {
  for (const p of s.projects.values()) {
    if (p.arn === arn) return { p };
    for (const v of p.versions.values()) if (v.arn === arn) return { p, v };
  }
  return {};
}

// Start and stop calls with the versions RUNNING at that moment (blue/green checks).
function event(s, p, op, v) {
  const running = [];
  for (const o of p.versions.values()) {
    advance(o);
    if (o.status === "RUNNING" && o !== v) running.push(o.name);
  }
  s.events.push({ op, version: v.name, status: v.status, others_running: running, t: Date.now() });
}

function describeVersion(v) {
  advance(v);
  const d = { ProjectVersionArn: v.arn, Status: v.status, StatusMessage: v.message,
              CreationTimestamp: v.created, MinInferenceUnits: v.min_units || undefined,
              MaxInferenceUnits: v.max_units || undefined,
              OutputConfig: v.output };
  if (v.status !== "TRAINING_IN_PROGRESS" && v.status !== "TRAINING_FAILED") {
    d.EvaluationResult = { F1Score: v.f1, Summary: { S3Object: { Bucket: v.output.S3Bucket,
      Name: (v.output.S3KeyPrefix || "") + "EvaluationResultSummary-" + v.name + ".json" } } };
    d.TrainingEndTimestamp = v.created + 1;
  }
  return d;
}

function signed(req, res, body, ctx, info) {
  const target = info.target || "";
  if (info.service !== "rekognition" && !target.startsWith("RekognitionService.")) return false;
  const s = st(ctx);
  const rid = info.rid;
  const hdr = { "Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": rid };
  const reply = (obj) => ctx.json(res, 200, obj, hdr);
  const fail = (code, msg) => {
    res.writeHead(400, { ...hdr, "Content-Type": "application/x-amz-json-1.1" });
    res.end(JSON.stringify({ __type: code, Message: msg }));
    return true;
  };
  if (!target.startsWith("RekognitionService.")) {
    fail("UnknownOperationException", "unknown target " + target);
    return true;
  }
  const op = target.slice("RekognitionService.".length);
  let input;
  try {
    input = JSON.parse(body.toString("utf8") || "{}");
  } catch (e) {
    return fail("SerializationException", "body is not JSON");
  }
  s.counts[op] = (s.counts[op] || 0) + 1;
  s.requests.push({ op, input: op === "DetectCustomLabels" && input.Image && input.Image.Bytes
    ? { ...input, Image: { Bytes: "<" + input.Image.Bytes.length + " base64 chars>" } } : input });
  if (s.requests.length > 5000) s.requests.shift();

  switch (op) {
  case "CreateProject": {
    if (!input.ProjectName) return fail("InvalidParameterException", "ProjectName is required");
    if (s.projects.has(input.ProjectName)) return fail("ResourceInUseException", "project exists");
    reply({ ProjectArn: newProject(s, ctx, input.ProjectName).arn });
    return true;
  }
  case "DescribeProjects": {
    const names = input.ProjectNames;
    const out = [];
    for (const p of s.projects.values())
      if (!names || names.includes(p.name))
        out.push({ ProjectArn: p.arn, CreationTimestamp: p.created, Status: "CREATED", Datasets: [] });
    reply({ ProjectDescriptions: out });
    return true;
  }
  case "CreateProjectVersion": {
    const { p } = byArn(s, input.ProjectArn);
    if (!p) return fail("ResourceNotFoundException", "no project " + input.ProjectArn);
    const vn = input.VersionName;
    if (!vn || !/^[a-zA-Z0-9_.-]{1,255}$/.test(vn)) return fail("ValidationException", "bad VersionName");
    const out = input.OutputConfig || {};
    if (!out.S3Bucket) return fail("InvalidParameterException", "OutputConfig.S3Bucket is required");
    const asset = input.TrainingData && input.TrainingData.Assets && input.TrainingData.Assets[0];
    const obj = asset && asset.GroundTruthManifest && asset.GroundTruthManifest.S3Object;
    if (!obj || !obj.Bucket || !obj.Name)
      return fail("InvalidParameterException", "TrainingData needs a GroundTruthManifest S3Object");
    if (!input.TestingData || !(input.TestingData.AutoCreate || input.TestingData.Assets))
      return fail("InvalidParameterException", "TestingData is required with TrainingData");
    if (p.versions.has(vn)) return fail("ResourceInUseException", "version " + vn + " exists");
    s.seq += 1;
    const cfg = s.cfg;
    let f1 = cfg.f1_by_version[vn];
    if (f1 === undefined) f1 = cfg.f1_queue.length ? cfg.f1_queue.shift() : cfg.f1;
    const failMsg = cfg.fail_versions[vn];
    const v = { name: vn, arn: `${p.arn.replace(/\/\d+$/, "")}/version/${vn}/${1700000000000 + s.seq}`,
                created: Date.now() / 1000, output: out, manifest: obj, f1, message: "",
                min_units: 0, max_units: 0, starts: 0, stops: 0, running_ms: 0, started_at: 0 };
    move(v, "TRAINING_IN_PROGRESS", failMsg ? "TRAINING_FAILED" : "TRAINING_COMPLETED", cfg.train_ms);
    if (failMsg) v.message = failMsg;
    p.versions.set(vn, v);
    reply({ ProjectVersionArn: v.arn });
    return true;
  }
  case "DescribeProjectVersions": {
    const { p } = byArn(s, input.ProjectArn);
    if (!p) return fail("ResourceNotFoundException", "no project " + input.ProjectArn);
    const out = [];
    for (const v of p.versions.values())
      if (!input.VersionNames || input.VersionNames.includes(v.name)) out.push(describeVersion(v));
    reply({ ProjectVersionDescriptions: out });
    return true;
  }
  case "StartProjectVersion": {
    const { p, v } = byArn(s, input.ProjectVersionArn);
    if (!v) return fail("ResourceNotFoundException", "no version " + input.ProjectVersionArn);
    event(s, p, "start", v);
    if (!(input.MinInferenceUnits >= 1)) return fail("InvalidParameterException", "MinInferenceUnits must be >= 1");
    if (input.MaxInferenceUnits !== undefined && !(input.MaxInferenceUnits >= input.MinInferenceUnits))
      return fail("InvalidParameterException", "MaxInferenceUnits must be >= MinInferenceUnits");
    advance(v);
    if (v.status !== "TRAINING_COMPLETED" && v.status !== "STOPPED")
      return fail("ResourceInUseException", "version is " + v.status);
    v.min_units = input.MinInferenceUnits;
    v.max_units = input.MaxInferenceUnits || 0;
    v.starts += 1;
    move(v, "STARTING", "RUNNING", s.cfg.start_ms);
    reply({ Status: "STARTING" });
    return true;
  }
  case "StopProjectVersion": {
    const { p, v } = byArn(s, input.ProjectVersionArn);
    if (!v) return fail("ResourceNotFoundException", "no version " + input.ProjectVersionArn);
    event(s, p, "stop", v);
    advance(v);
    if (v.status !== "RUNNING" && v.status !== "STARTING")
      return fail("ResourceInUseException", "version is " + v.status);
    if (v.started_at) {
      v.running_ms += Date.now() - v.started_at;
      v.started_at = 0;
    }
    v.stops += 1;
    move(v, "STOPPING", "STOPPED", s.cfg.stop_ms);
    reply({ Status: "STOPPING" });
    return true;
  }
  case "DetectCustomLabels": {
    const { v } = byArn(s, input.ProjectVersionArn);
    if (!v) return fail("ResourceNotFoundException", "no version " + input.ProjectVersionArn);
    advance(v);
    if (v.status !== "RUNNING") return fail("ResourceNotReadyException", "version is " + v.status);
    if (s.cfg.throttle_detect > 0) {
      s.cfg.throttle_detect -= 1;
      return fail("ProvisionedThroughputExceededException", "model capacity exceeded");
    }
    // Capacity per inference unit (bench/bench_detect_throttled.py): a token bucket of
    // detect_rate x units calls per second (one second of burst); above it ThrottlingException.
    // detect_latency_ms delays every answer that got through, as a real model takes time.
    if (s.cfg.detect_rate > 0) {
      const rate = s.cfg.detect_rate * Math.max(1, v.min_units || 1);
      const now = Date.now();
      if (v.bucket_at === undefined) {
        v.bucket = rate;
        v.bucket_at = now;
      }
      v.bucket = Math.min(rate, v.bucket + ((now - v.bucket_at) / 1000) * rate);
      v.bucket_at = now;
      if (v.bucket < 1) {
        s.counts.DetectThrottled = (s.counts.DetectThrottled || 0) + 1;
        return fail("ThrottlingException", "Rate exceeded");
      }
      v.bucket -= 1;
    }
    if (s.cfg.detect_latency_ms > 0) {
      const late = { ...input };
      setTimeout(() => answerDetect(s, v, late, reply, fail), s.cfg.detect_latency_ms);
      return true;
    }
    return answerDetect(s, v, input, reply, fail);
  }
  default:
    return fail("UnknownOperationException", "unknown operation " + op);
  }
}

// DetectCustomLabels' answer once admitted: the labels configured for the object or bytes.
function answerDetect(s, v, input, reply, fail) {
  {
    const img = input.Image || {};
    let labels;
    if (img.S3Object && img.S3Object.Bucket && img.S3Object.Name) {
      labels = s.cfg.labels[img.S3Object.Name];
    } else if (typeof img.Bytes === "string" && img.Bytes.length) {
      const raw = Buffer.from(img.Bytes, "base64");
      if (raw.length > 4 * 1024 * 1024) return fail("ImageTooLargeException", "image too large");
      labels = s.cfg.bytes_labels[crypto.createHash("sha256").update(raw).digest("hex")];
    } else {
      return fail("InvalidParameterException", "Image needs S3Object or Bytes");
    }
    if (!labels) labels = s.cfg.default_labels;
    const min = typeof input.MinConfidence === "number" ? input.MinConfidence : 50;
    s.counts.DetectAnswered = (s.counts.DetectAnswered || 0) + 1;
    reply({ CustomLabels: labels.filter((l) => l.Confidence >= min) });
    return true;
  }
}

function control(verb, args, ctx) {
  const s = st(ctx);
  if (verb === "config") {
    Object.assign(s.cfg, args || {});
    return { ok: true };
  }
  if (verb === "project") {
    const p = s.projects.get(args.name) || newProject(s, ctx, args.name);
    return { arn: p.arn };
  }
  // A version made elsewhere (a reference-solution deployment): {project, name, status, f1}.
  if (verb === "version") {
    const p = s.projects.get(args.project) || newProject(s, ctx, args.project);
    s.seq += 1;
    const status = args.status || "TRAINING_COMPLETED";
    const v = { name: args.name, arn: `${p.arn.replace(/\/\d+$/, "")}/version/${args.name}/${1700000000000 + s.seq}`,
                created: Date.now() / 1000, output: { S3Bucket: "seeded", S3KeyPrefix: "evaluation/" },
                manifest: { Bucket: "seeded", Name: "manifest" },
                f1: typeof args.f1 === "number" ? args.f1 : 0.9, message: "", status,
                min_units: 1, max_units: 0, starts: 0, stops: 0, running_ms: 0,
                started_at: status === "RUNNING" ? Date.now() : 0 };
    p.versions.set(v.name, v);
    return { arn: v.arn };
  }
  if (verb === "state") {
    const projects = {};
    for (const p of s.projects.values()) {
      const versions = {};
      for (const v of p.versions.values()) {
        advance(v);
        versions[v.name] = { arn: v.arn, status: v.status, f1: v.f1, min_units: v.min_units,
                             max_units: v.max_units, starts: v.starts, stops: v.stops,
                             running_ms: v.running_ms + (v.started_at ? Date.now() - v.started_at : 0),
                             manifest: v.manifest, output: v.output };
      }
      projects[p.name] = { arn: p.arn, versions };
    }
    return { projects, counts: s.counts, requests: s.requests, events: s.events };
  }
  return undefined;
}

module.exports = {
  name: NAME,
  handle() { return false; },
  signed,
  control,
};
