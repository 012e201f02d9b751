// routes/a2i.js - Amazon A2I for the twin: the A2I runtime (rest-json, signing name sagemaker:
// POST /human-loops StartHumanLoop, GET /human-loops/<name> DescribeHumanLoop, POST
// /human-loops/stop StopHumanLoop) and the SageMaker control plane's DescribeFlowDefinition (json
// 1.1, X-Amz-Target SageMaker.DescribeFlowDefinition). Only signed, verified requests reach it
// (signed()); faults queued through /__control/faults apply to them as to any service.
//
// Human loops are kept in memory. The test answers one with POST /__control/a2i/complete, which
// writes the output JSON in A2I's layout (aws-wire.md 4.3) under
// <S3OutputPath>/<flow name>/YYYY/MM/DD/hh/mm/ss/<loop>/output.json, into a local folder standing
// for the bucket (config output_dir: the local store's root), and marks the loop Completed.
//
// Control verbs (POST /__control/a2i/<verb>, JSON body):
//   flow     {name, output ("s3://bucket/prefix/"), status?}  -> {arn}   a flow definition
//   config   {output_dir, output_s3}                           -> {}      where output JSON goes
//            (output_s3 true: into the twin's s3rver, the flow output's bucket; needs --s3rver)
//   complete {name, answers: [{label, worker, at_ms?}]}        -> {uri, key}
//   fail     {name, status ("Failed"|"Stopped"), reason?, code?} -> {}
//   loops    {}                                                -> [{name, status, flow, input}]
//   counts   {}                                                -> {StartHumanLoop: n, ...}
"use strict";
const fs = require("fs");
const http = require("http");
const path = require("path");

const NAME_RE = /^[a-z0-9](-*[a-z0-9])*$/;

function st(ctx) {
  if (!ctx.state.a2i) ctx.state.a2i = { flows: new Map(), loops: new Map(), outputDir: null, counts: {} };
  return ctx.state.a2i;
}

function count(s, op) {
  s.counts[op] = (s.counts[op] || 0) + 1;
}

// rest-json error: code in X-Amzn-ErrorType and the body.
function restError(ctx, res, status, code, message, rid) {
  ctx.json(res, status, { message }, { "X-Amzn-ErrorType": code, "x-amzn-RequestId": rid });
}

function jsonError(ctx, res, code, message, rid) {
  ctx.json(res, 400, { __type: code, message }, { "Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": rid });
}

function parse(body) {
  try {
    return JSON.parse(body.toString("utf8") || "{}");
  } catch (e) {
    return null;
  }
}

function pad(n) {
  return String(n).padStart(2, "0");
}

function outputKey(flow, loop) {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(flow.output);
  const bucket = m[1];
  let prefix = m[2].replace(/\/+$/, "");
  const d = new Date(loop.created);
  const when = [d.getUTCFullYear(), pad(d.getUTCMonth() + 1), pad(d.getUTCDate()), pad(d.getUTCHours()),
    pad(d.getUTCMinutes()), pad(d.getUTCSeconds())].join("/");
  const key = (prefix ? prefix + "/" : "") + flow.name + "/" + when + "/" + loop.name + "/output.json";
  return { bucket, key, uri: "s3://" + bucket + "/" + key };
}

module.exports = {
  name: "a2i",
  handle() {
    return false;
  },
  signed(req, res, body, ctx, info) {
    if (info.service !== "sagemaker") return false;
    const s = st(ctx);
    const rid = info.rid;
    const url = req.url.split("?")[0];
    if (info.target.startsWith("SageMaker.")) {
      const op = info.target.slice("SageMaker.".length);
      count(s, op);
      ctx.log({ route: "a2i", op });
      const input = parse(body);
      if (!input) return jsonError(ctx, res, "SerializationException", "body is not JSON", rid), true;
      if (op === "DescribeFlowDefinition") {
        const f = s.flows.get(input.FlowDefinitionName);
        if (!f) return jsonError(ctx, res, "ResourceNotFound", "Flow definition " + input.FlowDefinitionName + " does not exist.", rid), true;
        ctx.json(res, 200, { FlowDefinitionArn: f.arn, FlowDefinitionName: f.name, FlowDefinitionStatus: f.status,
                             OutputConfig: { S3OutputPath: f.output }, CreationTime: f.created / 1000 },
                 { "Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": rid });
        return true;
      }
      // Other SageMaker operations (CreateFlowDefinition, the task UIs: routes/setup.js) are
      // left to later modules; none answering gives the server's UnknownOperationException.
      return false;
    }
    if (!url.startsWith("/human-loops")) return false;
    const reply = (obj) => ctx.json(res, 200, obj, { "x-amzn-RequestId": rid });
    if (req.method === "POST" && url === "/human-loops") {
      count(s, "StartHumanLoop");
      ctx.log({ route: "a2i", op: "StartHumanLoop" });
      const input = parse(body);
      if (!input) return restError(ctx, res, 400, "ValidationException", "body is not JSON", rid), true;
      const name = input.HumanLoopName;
      if (typeof name !== "string" || name.length < 1 || name.length > 63 || !NAME_RE.test(name))
        return restError(ctx, res, 400, "ValidationException", "HumanLoopName fails ^[a-z0-9](-*[a-z0-9])*$ (1-63)", rid), true;
      const flow = [...s.flows.values()].find((f) => f.arn === input.FlowDefinitionArn);
      if (!flow) return restError(ctx, res, 404, "ResourceNotFoundException", "no flow definition " + input.FlowDefinitionArn, rid), true;
      const content = input.HumanLoopInput && input.HumanLoopInput.InputContent;
      let parsed;
      try {
        parsed = JSON.parse(content);
      } catch (e) {
        parsed = undefined;
      }
      if (typeof content !== "string" || typeof parsed !== "object" || parsed === null)
        return restError(ctx, res, 400, "ValidationException", "HumanLoopInput.InputContent must be a JSON text", rid), true;
      if (s.loops.has(name))
        return restError(ctx, res, 409, "ConflictException", "A human loop named " + name + " already exists.", rid), true;
      const loop = { name, arn: flow.arn.replace(/flow-definition\/.*/, "human-loop/" + name), flow: flow.name,
                     flowArn: flow.arn, input: parsed, status: "InProgress", created: Date.now() };
      s.loops.set(name, loop);
      reply({ HumanLoopArn: loop.arn });
      return true;
    }
    if (req.method === "POST" && url === "/human-loops/stop") {
      count(s, "StopHumanLoop");
      const input = parse(body) || {};
      const loop = s.loops.get(input.HumanLoopName);
      if (!loop) return restError(ctx, res, 404, "ResourceNotFoundException", "no human loop " + input.HumanLoopName, rid), true;
      if (loop.status === "InProgress") loop.status = "Stopped";
      reply({});
      return true;
    }
    const m = /^\/human-loops\/([^/]+)$/.exec(url);
    if (req.method === "GET" && m) {
      count(s, "DescribeHumanLoop");
      ctx.log({ route: "a2i", op: "DescribeHumanLoop", loop: m[1] });
      const loop = s.loops.get(decodeURIComponent(m[1]));
      if (!loop) return restError(ctx, res, 404, "ResourceNotFoundException", "no human loop " + m[1], rid), true;
      const out = { CreationTime: loop.created / 1000, HumanLoopStatus: loop.status, HumanLoopName: loop.name,
                    HumanLoopArn: loop.arn, FlowDefinitionArn: loop.flowArn };
      if (loop.failureReason) out.FailureReason = loop.failureReason;
      if (loop.failureCode) out.FailureCode = loop.failureCode;
      if (loop.outputUri) out.HumanLoopOutput = { OutputS3Uri: loop.outputUri };
      reply(out);
      return true;
    }
    restError(ctx, res, 404, "UnknownOperationException", "no such route " + req.method + " " + url, rid);
    return true;
  },
  control(verb, args, ctx) {
    const s = st(ctx);
    if (verb === "flow") {
      const arn = "arn:aws:sagemaker:" + ctx.region + ":123456789012:flow-definition/" + args.name;
      s.flows.set(args.name, { name: args.name, arn, output: args.output || "s3://local/a2i-human-loop-data/",
                               status: args.status || "Active", created: Date.now() });
      return { arn };
    }
    if (verb === "config") {
      if (args.output_dir !== undefined) s.outputDir = args.output_dir;
      if (args.output_s3 !== undefined) s.outputS3 = !!args.output_s3;
      return {};
    }
    if (verb === "complete") {
      const loop = s.loops.get(args.name);
      if (!loop) return { error: "no human loop " + args.name };
      const flow = s.flows.get(loop.flow);
      const where = outputKey(flow, loop);
      const now = Date.now();
      const doc = {
        flowDefinitionArn: loop.flowArn,
        humanLoopName: loop.name,
        inputContent: loop.input,
        humanAnswers: (args.answers || []).map((a, i) => {
          const at = a.at_ms || now + i;
          return {
            answerContent: { "crowd-image-classifier": { label: a.label } },
            submissionTime: new Date(at).toISOString(),
            acceptanceTime: new Date(at - 5000).toISOString(),
            timeSpentInSeconds: 5,
            workerId: a.worker || "worker-" + i,
            workerMetadata: { identityData: { identityProviderType: "Cognito", issuer: "https://cognito-idp.example", sub: "sub-" + i } },
          };
        }),
      };
      const done = () => {
        loop.status = "Completed";
        loop.outputUri = where.uri;
        return { uri: where.uri, key: where.key };
      };
      if (s.outputS3 && ctx.s3rverPort) {
        // The bucket is s3rver's (the twin runs with --s3rver): PUT the object there as A2I
        // would, then mark the loop Completed.
        const data = Buffer.from(JSON.stringify(doc));
        return new Promise((resolve, reject) => {
          const up = http.request({ host: "127.0.0.1", port: ctx.s3rverPort, method: "PUT",
                                    path: "/" + where.bucket + "/" + where.key.split("/").map(encodeURIComponent).join("/"),
                                    headers: { "Content-Type": "application/json", "Content-Length": data.length } }, (r) => {
            r.resume();
            r.on("end", () => (r.statusCode === 200 ? resolve(done()) : reject(new Error("s3rver PUT " + r.statusCode))));
          });
          up.on("error", reject);
          up.end(data);
        });
      }
      if (s.outputDir) {
        const file = path.join(s.outputDir, where.key);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file + ".tmp", JSON.stringify(doc));
        fs.renameSync(file + ".tmp", file);
      }
      return done();
    }
    if (verb === "fail") {
      const loop = s.loops.get(args.name);
      if (!loop) return { error: "no human loop " + args.name };
      loop.status = args.status || "Failed";
      if (args.reason) loop.failureReason = args.reason;
      if (args.code) loop.failureCode = args.code;
      return {};
    }
    if (verb === "loops")
      return [...s.loops.values()].map((l) => ({ name: l.name, status: l.status, flow: l.flow, input: l.input, created: l.created }));
    if (verb === "counts") return s.counts;
    return undefined;
  },
};
