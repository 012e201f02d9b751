// routes/chaos.js - signed calls counted per service and operation, and a seeded random share of
// them answered by throttling or a 5xx, in the protocol of the service called (the whole-loop
// test's "10% of calls fail" run, bench/aws-calls' call counts).
//
// Claims a request (from handle(), so before the signature check and before the service sees
// it: a faulted call changed nothing) only when it draws a fault; every other request passes on
// unchanged. Considered: requests with a SigV4 Authorization header whose User-Agent contains
// `agent` (when set), whose credential scope service is in `services` (when set).
//
// The fault, by protocol: S3 (scope "s3") 503 SlowDown / 500 InternalError <Error> XML; json 1.1
// (X-Amz-Target) 400 ThrottlingException / 500 InternalServerError / 503 ServiceUnavailable
// {__type}; query (form body: SNS, STS) 400 Throttling / 503 ServiceUnavailable <ErrorResponse>;
// rest-json (A2I runtime) 429 ThrottlingException / 500 InternalServerException with
// X-Amzn-ErrorType. Each fault is logged ({route: "chaos", service, op, fault}).
//
// Control (POST /__control/chaos/<verb>):
//   config {rate (0..1, default 0), seed (default 1), kinds (["throttle", "5xx"], default both),
//           services ([scope names], default all), agent (User-Agent substring, default any)}
//           -> {ok}; replaces the settings and restarts the random sequence and the counts
//   counts {} -> {signed, faulted, ops: {"<service>:<op>": n}, faults: {"<service>:<op>": n}}
//   clear  {} -> zeroes the counts (settings kept)
"use strict";

const NAME = "chaos";

function st(ctx) {
  if (!ctx.state[NAME]) {
    ctx.state[NAME] = { rate: 0, kinds: ["throttle", "5xx"], services: null, agent: null, rng: rng(1),
                        signed: 0, faulted: 0, ops: {}, faults: {} };
  }
  return ctx.state[NAME];
}

// mulberry32: a small seeded generator, so a run's fault sequence is repeatable.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function scopeService(auth) {
  const m = /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(auth || "");
  return m ? m[1] : null;
}

// A name for the operation: X-Amz-Target's, the query Action, S3's by method and query, or the
// rest-json method and first path segment.
function opName(req, body, service) {
  const target = req.headers["x-amz-target"];
  if (target) return String(target).replace(/^.*\./, "");
  const ct = String(req.headers["content-type"] || "");
  if (ct.startsWith("application/x-www-form-urlencoded")) {
    const action = new URLSearchParams(body.toString("utf8")).get("Action");
    if (action) return action;
  }
  const [p, q] = req.url.split("?");
  if (service === "s3") {
    const query = new URLSearchParams(q || "");
    if (req.method === "GET" && query.get("list-type") === "2") return "ListObjectsV2";
    if (req.method === "GET") return "GetObject";
    if (req.method === "HEAD") return "HeadObject";
    if (req.method === "DELETE") return "DeleteObject";
    if (req.method === "PUT" && req.headers["x-amz-copy-source"]) return "CopyObject";
    if (req.method === "PUT") return "PutObject";
    return req.method;
  }
  return req.method + " /" + (p.split("/")[1] || "");
}

function xml(res, status, body, headers) {
  res.writeHead(status, { "Content-Type": "application/xml", "Content-Length": Buffer.byteLength(body), ...headers });
  res.end(body);
}

function answer(req, res, service, throttle, n) {
  const rid = "chaos-" + n;
  if (service === "s3") {
    const [status, code] = throttle ? [503, "SlowDown"] : [500, "InternalError"];
    xml(res, status, '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>' + code +
        "</Code><Message>injected by chaos</Message><RequestId>" + rid + "</RequestId></Error>",
        { "x-amz-request-id": rid });
    return { status, code };
  }
  if (req.headers["x-amz-target"]) {
    const [status, code] = throttle ? [400, "ThrottlingException"]
      : n % 2 ? [500, "InternalServerError"] : [503, "ServiceUnavailable"];
    const body = JSON.stringify({ __type: code, message: "injected by chaos" });
    res.writeHead(status, { "Content-Type": "application/x-amz-json-1.1", "Content-Length": Buffer.byteLength(body),
                            "x-amzn-RequestId": rid });
    res.end(body);
    return { status, code };
  }
  if (String(req.headers["content-type"] || "").startsWith("application/x-www-form-urlencoded")) {
    const [status, code] = throttle ? [400, "Throttling"] : [503, "ServiceUnavailable"];
    xml(res, status, "<ErrorResponse><Error><Type>" + (throttle ? "Sender" : "Receiver") + "</Type><Code>" + code +
        "</Code><Message>injected by chaos</Message></Error><RequestId>" + rid + "</RequestId></ErrorResponse>",
        { "x-amzn-RequestId": rid });
    return { status, code };
  }
  const [status, code] = throttle ? [429, "ThrottlingException"] : [500, "InternalServerException"];
  const body = JSON.stringify({ message: "injected by chaos" });
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body),
                          "X-Amzn-ErrorType": code, "x-amzn-RequestId": rid });
  res.end(body);
  return { status, code };
}

module.exports = {
  name: NAME,
  handle(req, res, body, ctx) {
    const auth = req.headers["authorization"];
    if (!auth || !String(auth).startsWith("AWS4-HMAC-SHA256 ")) return false;
    const s = st(ctx);
    const service = scopeService(auth);
    if (s.services && !s.services.includes(service)) return false;
    if (s.agent && !String(req.headers["user-agent"] || "").includes(s.agent)) return false;
    const key = service + ":" + opName(req, body, service);
    s.signed += 1;
    s.ops[key] = (s.ops[key] || 0) + 1;
    if (!(s.rate > 0) || s.rng() >= s.rate) return false;
    s.faulted += 1;
    s.faults[key] = (s.faults[key] || 0) + 1;
    const throttle = s.kinds.length === 1 ? s.kinds[0] === "throttle" : s.rng() < 0.5;
    const f = answer(req, res, service, throttle, s.faulted);
    ctx.log({ route: NAME, method: req.method, url: req.url, service, op: key, fault: f });
    return true;
  },
  control(verb, args, ctx) {
    const s = st(ctx);
    if (verb === "config") {
      s.rate = Number(args.rate || 0);
      s.kinds = Array.isArray(args.kinds) && args.kinds.length ? args.kinds : ["throttle", "5xx"];
      s.services = Array.isArray(args.services) ? args.services : null;
      s.agent = args.agent || null;
      s.rng = rng(args.seed === undefined ? 1 : Number(args.seed));
      s.signed = 0;
      s.faulted = 0;
      s.ops = {};
      s.faults = {};
      return { ok: true };
    }
    if (verb === "counts") return { signed: s.signed, faulted: s.faulted, ops: s.ops, faults: s.faults };
    if (verb === "clear") {
      s.signed = 0;
      s.faulted = 0;
      s.ops = {};
      s.faults = {};
      return { ok: true };
    }
    return undefined;
  },
};
