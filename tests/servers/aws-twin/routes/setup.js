// routes/setup.js - aws-twin route module: the control-plane calls of `retraind bootstrap` and
// `retraind doctor`, and denied actions.
//
// Signed requests (signed(), after the signature check and the queued faults):
//   SageMaker (json 1.1, X-Amz-Target SageMaker.<Op>): CreateHumanTaskUi, DescribeHumanTaskUi,
//     CreateFlowDefinition. Flow definitions are kept in routes/a2i.js's state
//     (ctx.state.a2i.flows), so its DescribeFlowDefinition and StartHumanLoop see them.
//     Errors as SageMaker: ResourceInUse (name taken), ResourceNotFound, ValidationException.
//   SNS (query): GetTopicAttributes {TopicArn}: every well-formed topic ARN exists unless it was
//     named in `missing_topics`; then 404 NotFound.
// Rekognition CreateProject / DescribeProjects are routes/rekognition.js's; SSM PutParameter
// (Overwrite false gives ParameterAlreadyExists) is server.js's.
//
// Denied actions (handle(), before the signature check): a request whose IAM action is in the
// deny list is answered AccessDenied in its protocol's shape, as IAM would: S3 403 XML
// <Code>AccessDenied</Code>; json 400 AccessDeniedException; A2I rest-json 403
// X-Amzn-ErrorType AccessDeniedException; SNS 403 query XML AuthorizationError. Actions are
// named as in IAM policies: s3:ListBucket (ListObjectsV2), s3:GetObject (GET and HEAD),
// s3:PutObject (PUT, CopyObject too), s3:DeleteObject, <service>:<Op> for json and query
// services (rekognition:DescribeProjects, ssm:GetParametersByPath, sns:GetTopicAttributes,
// sagemaker:DescribeFlowDefinition), sagemaker:StartHumanLoop / DescribeHumanLoop /
// StopHumanLoop for the A2I runtime.
//
// Control (POST /__control/setup/<verb>):
//   deny {actions: ["s3:PutObject", ...]}  -> {deny: [...]}  replaces the deny list ([] allows all)
//   missing_topics {arns: [...]}           -> {}             topics GetTopicAttributes does not find
//   ssm {}                                 -> {Name: {Value, Version, Type}} every SSM parameter
//   ssm_put {Name, Value, Type?}           -> {Version}      sets one as another tool would
//   state {}                               -> {uis: {name: {arn, content, categories}},
//                                              flows: {name: {arn, output, workteam, role, ui,
//                                              title, task_count}}, counts: {op: n},
//                                              denied: [{action, url}]}
"use strict";

const NAME = "setup";
const ACCOUNT = "123456789012";
const NAME_RE = /^[a-z0-9](-*[a-z0-9])*$/;

function st(ctx) {
  if (!ctx.state[NAME]) ctx.state[NAME] = { deny: new Set(), missing: new Set(), uis: new Map(), counts: {}, denied: [] };
  return ctx.state[NAME];
}

// routes/a2i.js's state, made here in its shape when a flow is created before any A2I call.
function a2iState(ctx) {
  if (!ctx.state.a2i) ctx.state.a2i = { flows: new Map(), loops: new Map(), outputDir: null, counts: {} };
  return ctx.state.a2i;
}

function count(s, op) {
  s.counts[op] = (s.counts[op] || 0) + 1;
}

function xmlEscape(v) {
  return String(v).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function scopeService(req) {
  const m = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(req.headers["authorization"] || "");
  return m ? m[1] : null;
}

// The IAM action of a request, or null when it is not a service request.
function actionOf(req, body) {
  const service = scopeService(req);
  if (!service) return null;
  const url = req.url.split("?");
  const query = url[1] || "";
  const target = req.headers["x-amz-target"];
  if (service === "s3") {
    if (req.method === "GET" && /(^|&)list-type=2(&|$)/.test(query)) return "s3:ListBucket";
    if (req.method === "GET" || req.method === "HEAD") return "s3:GetObject";
    if (req.method === "PUT") return "s3:PutObject";
    if (req.method === "DELETE") return "s3:DeleteObject";
    return "s3:" + req.method;
  }
  if (target) return service + ":" + String(target).replace(/^.*\./, "");
  if (service === "sagemaker") {
    if (req.method === "POST" && url[0] === "/human-loops") return "sagemaker:StartHumanLoop";
    if (req.method === "POST" && url[0] === "/human-loops/stop") return "sagemaker:StopHumanLoop";
    if (req.method === "GET" && url[0].startsWith("/human-loops/")) return "sagemaker:DescribeHumanLoop";
    return "sagemaker:" + req.method;
  }
  const action = new URLSearchParams(body.toString("utf8")).get("Action");
  return service + ":" + (action || req.method);
}

function deny(req, res, body, ctx, action) {
  const s = st(ctx);
  s.denied.push({ action, url: req.url });
  ctx.log({ route: NAME, method: req.method, url: req.url, denied: action });
  const rid = "twin-denied-" + s.denied.length;
  const message = "User: arn:aws:iam::" + ACCOUNT + ":user/twin is not authorized to perform: " + action;
  const service = scopeService(req);
  if (service === "s3") {
    const xml = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>' +
      rid + "</RequestId><HostId>twin</HostId></Error>";
    const head = req.method === "HEAD";
    res.writeHead(403, { "Content-Type": "application/xml", "Content-Length": head ? 0 : Buffer.byteLength(xml),
                         "x-amz-request-id": rid, Date: new Date().toUTCString() });
    res.end(head ? undefined : xml);
  } else if (req.headers["x-amz-target"]) {
    ctx.json(res, 400, { __type: "AccessDeniedException", message },
             { "Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": rid, Date: new Date().toUTCString() });
  } else if (service === "sagemaker") {
    ctx.json(res, 403, { message }, { "X-Amzn-ErrorType": "AccessDeniedException", "x-amzn-RequestId": rid,
                                      Date: new Date().toUTCString() });
  } else {
    const xml = '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>AuthorizationError</Code><Message>' +
      xmlEscape(message) + "</Message></Error><RequestId>" + rid + "</RequestId></ErrorResponse>";
    res.writeHead(403, { "Content-Type": "text/xml", "Content-Length": Buffer.byteLength(xml), "x-amzn-RequestId": rid,
                         Date: new Date().toUTCString() });
    res.end(xml);
  }
  return true;
}

function sagemaker(res, body, ctx, info, s) {
  const op = info.target.slice("SageMaker.".length);
  if (!["CreateHumanTaskUi", "DescribeHumanTaskUi", "CreateFlowDefinition"].includes(op)) return false;
  count(s, op);
  ctx.log({ route: NAME, op });
  const hdr = { "Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": info.rid, Date: new Date().toUTCString() };
  const reply = (obj) => (ctx.json(res, 200, obj, hdr), true);
  const fail = (code, message) => (ctx.json(res, 400, { __type: code, message }, hdr), true);
  let input;
  try {
    input = JSON.parse(body.toString("utf8") || "{}");
  } catch (e) {
    return fail("SerializationException", "body is not JSON");
  }
  const badName = (n) => typeof n !== "string" || n.length < 1 || n.length > 63 || !NAME_RE.test(n);
  if (op === "CreateHumanTaskUi") {
    const name = input.HumanTaskUiName;
    if (badName(name)) return fail("ValidationException", "HumanTaskUiName fails [a-z0-9](-*[a-z0-9])* (1-63)");
    const content = input.UiTemplate && input.UiTemplate.Content;
    if (typeof content !== "string" || content.length < 1 || content.length > 128000)
      return fail("ValidationException", "UiTemplate.Content must be 1-128000 characters");
    if (s.uis.has(name)) return fail("ResourceInUse", "Human task UI " + name + " already exists.");
    const m = /categories="([^"]*)"/.exec(content);
    let categories = null;
    if (m) {
      try {
        categories = JSON.parse(m[1].replace(/&quot;/g, '"').replace(/&amp;/g, "&").replace(/'/g, '"'));
      } catch (e) {
        categories = null;
      }
    }
    const ui = { name, arn: "arn:aws:sagemaker:" + ctx.region + ":" + ACCOUNT + ":human-task-ui/" + name, content,
                 categories, created: Date.now() };
    s.uis.set(name, ui);
    return reply({ HumanTaskUiArn: ui.arn });
  }
  if (op === "DescribeHumanTaskUi") {
    const ui = s.uis.get(input.HumanTaskUiName);
    if (!ui) return fail("ResourceNotFound", "Human task UI " + input.HumanTaskUiName + " does not exist.");
    return reply({ HumanTaskUiArn: ui.arn, HumanTaskUiName: ui.name, HumanTaskUiStatus: "Active",
                   CreationTime: ui.created / 1000, UiTemplate: { Url: "https://twin.invalid/" + ui.name, ContentSha256: "0" } });
  }
  // CreateFlowDefinition
  const name = input.FlowDefinitionName;
  if (badName(name)) return fail("ValidationException", "FlowDefinitionName fails [a-z0-9](-*[a-z0-9])* (1-63)");
  const h = input.HumanLoopConfig || {};
  if (typeof h.WorkteamArn !== "string" || !/^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:workteam\/.+/.test(h.WorkteamArn))
    return fail("ValidationException", "HumanLoopConfig.WorkteamArn is not a workteam ARN");
  const ui = [...s.uis.values()].find((u) => u.arn === h.HumanTaskUiArn);
  if (!ui) return fail("ValidationException", "HumanLoopConfig.HumanTaskUiArn names no human task UI");
  if (typeof h.TaskTitle !== "string" || h.TaskTitle.length < 1 || h.TaskTitle.length > 128)
    return fail("ValidationException", "TaskTitle must be 1-128 characters");
  if (typeof h.TaskDescription !== "string" || h.TaskDescription.length < 1 || h.TaskDescription.length > 255)
    return fail("ValidationException", "TaskDescription must be 1-255 characters");
  if (!(h.TaskCount >= 1 && h.TaskCount <= 3)) return fail("ValidationException", "TaskCount must be 1-3");
  const out = input.OutputConfig && input.OutputConfig.S3OutputPath;
  if (typeof out !== "string" || !/^s3:\/\/[^/]+\//.test(out)) return fail("ValidationException", "OutputConfig.S3OutputPath must be s3://bucket/...");
  if (typeof input.RoleArn !== "string" || !/^arn:aws[a-z-]*:iam::\d{12}:role\/.+/.test(input.RoleArn))
    return fail("ValidationException", "RoleArn is not an IAM role ARN");
  const a = a2iState(ctx);
  if (a.flows.has(name)) return fail("ResourceInUse", "Flow definition " + name + " already exists.");
  const arn = "arn:aws:sagemaker:" + ctx.region + ":" + ACCOUNT + ":flow-definition/" + name;
  a.flows.set(name, { name, arn, output: out, status: "Active", created: Date.now(), workteam: h.WorkteamArn,
                      role: input.RoleArn, ui: h.HumanTaskUiArn, title: h.TaskTitle, task_count: h.TaskCount });
  return reply({ FlowDefinitionArn: arn });
}

function sns(res, body, ctx, info, s) {
  const form = new URLSearchParams(body.toString("utf8"));
  if (form.get("Action") !== "GetTopicAttributes") return false;
  count(s, "GetTopicAttributes");
  ctx.log({ route: NAME, op: "GetTopicAttributes" });
  const arn = form.get("TopicArn");
  const send = (status, xml) => {
    res.writeHead(status, { "Content-Type": "text/xml", "Content-Length": Buffer.byteLength(xml), "x-amzn-RequestId": info.rid,
                            Date: new Date().toUTCString() });
    res.end(xml);
    return true;
  };
  const err = (status, code, message) => send(status, '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>' +
    code + "</Code><Message>" + xmlEscape(message) + "</Message></Error><RequestId>" + info.rid + "</RequestId></ErrorResponse>");
  if (!arn || !/^arn:aws:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/.test(arn)) return err(400, "InvalidParameter", "Invalid parameter: TopicArn");
  if (s.missing.has(arn)) return err(404, "NotFound", "Topic does not exist");
  const attrs = { TopicArn: arn, Owner: ACCOUNT, DisplayName: "", SubscriptionsConfirmed: "1", SubscriptionsPending: "0" };
  const entries = Object.entries(attrs).map(([k, v]) => "<entry><key>" + k + "</key><value>" + xmlEscape(v) + "</value></entry>").join("");
  return send(200, '<GetTopicAttributesResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><GetTopicAttributesResult><Attributes>' +
    entries + "</Attributes></GetTopicAttributesResult><ResponseMetadata><RequestId>" + info.rid +
    "</RequestId></ResponseMetadata></GetTopicAttributesResponse>");
}

module.exports = {
  name: NAME,
  handle(req, res, body, ctx) {
    const s = ctx.state[NAME];
    if (!s || s.deny.size === 0) return false;
    const action = actionOf(req, body);
    return action !== null && s.deny.has(action) ? deny(req, res, body, ctx, action) : false;
  },
  signed(req, res, body, ctx, info) {
    const s = st(ctx);
    if (info.service === "sagemaker" && (info.target || "").startsWith("SageMaker.")) return sagemaker(res, body, ctx, info, s);
    if (info.service === "sns" && req.method === "POST") return sns(res, body, ctx, info, s);
    return false;
  },
  control(verb, args, ctx) {
    const s = st(ctx);
    if (verb === "deny") {
      s.deny = new Set(args.actions || []);
      return { deny: [...s.deny] };
    }
    if (verb === "missing_topics") {
      s.missing = new Set(args.arns || []);
      return {};
    }
    if (verb === "ssm") {
      const out = {};
      for (const p of ctx.ssm.values()) out[p.Name] = { Value: p.Value, Version: p.Version, Type: p.Type };
      return out;
    }
    if (verb === "ssm_put") {
      if (typeof args.Name !== "string" || typeof args.Value !== "string") return { error: "Name and Value are required" };
      const old = ctx.ssm.get(args.Name);
      const version = old ? old.Version + 1 : 1;
      ctx.ssm.set(args.Name, { Name: args.Name, Type: args.Type || "String", Value: args.Value, Version: version,
                               LastModifiedDate: Date.now() / 1000, ARN: "arn:aws:ssm:" + ctx.region + ":" + ACCOUNT + ":parameter" + args.Name,
                               DataType: "text" });
      return { Version: version };
    }
    if (verb === "state") {
      const uis = {};
      for (const u of s.uis.values()) uis[u.name] = { arn: u.arn, content: u.content, categories: u.categories };
      const flows = {};
      for (const f of a2iState(ctx).flows.values())
        flows[f.name] = { arn: f.arn, output: f.output, status: f.status, workteam: f.workteam || null, role: f.role || null,
                          ui: f.ui || null, title: f.title || null, task_count: f.task_count || null };
      return { uis, flows, counts: s.counts, denied: s.denied };
    }
    return undefined;
  },
};
