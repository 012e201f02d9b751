// server.js - aws-twin: a loopback stand-in for AWS services in retraind's tests.
//
// Every signed request is checked with the AWS SDK's own signer (@smithy/signature-v4), never
// with retraind's code. It answers a minimal SSM-like JSON 1.1 service itself and, with
// --s3rver, forwards S3 requests (credential scope service "s3") to an in-process s3rver after
// checking them with S3's signing rules: s3rver 3.x does not verify SigV4 signatures (its
// authentication middleware accepts any V4 signature), so the check is done here and s3rver is
// only the object store. The test can queue faults (status, delay, throttling, reset,
// truncated body, skewed clock) through the unsigned /__control endpoint. Route modules in
// routes/*.js answer unsigned endpoints (fake IMDS, ECS, STS); README.md has the contract.
//
// Prints "PORT <n>" on stdout once listening on 127.0.0.1; exits when stdin closes.
"use strict";
const fs = require("fs");
const http = require("http");
const os = require("os");
const path = require("path");
const { SignatureV4 } = require("@smithy/signature-v4");
const { Sha256 } = require("@aws-crypto/sha256-js");

function parseArgs(argv) {
  const o = {
    accessKey: "AKIDEXAMPLE",
    secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    region: "us-east-1",
    s3rver: false,
    buckets: [],
  };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--access-key") o.accessKey = argv[++i];
    else if (a === "--secret-key") o.secretKey = argv[++i];
    else if (a === "--region") o.region = argv[++i];
    else if (a === "--s3rver") o.s3rver = true;
    else if (a === "--bucket") o.buckets.push(argv[++i]);
    else {
      console.error("unknown argument " + a);
      process.exit(2);
    }
  }
  return o;
}

const opts = parseArgs(process.argv);
let requestCounter = 0;
let faults = [];
let skewMs = 0;
let skewCode = null;
let reqLog = [];
const ssm = new Map();

const ctx = {
  port: 0,
  accessKey: opts.accessKey,
  secretKey: opts.secretKey,
  region: opts.region,
  state: {},
  ssm, // the SSM parameters, Name -> {Name, Type, Value, Version, ...} (routes/setup.js reads them)
  keys: new Map([[opts.accessKey, opts.secretKey]]), // access key -> secret accepted
  addKey(ak, sk) {
    ctx.keys.set(ak, sk);
  },
  log(obj) {
    reqLog.push(obj);
  },
  json(res, status, obj, headers) {
    const body = Buffer.from(JSON.stringify(obj));
    res.writeHead(status, { "Content-Type": "application/json", "Content-Length": body.length, ...(headers || {}) });
    res.end(body);
  },
  isoIn(seconds) {
    return new Date(Date.now() + seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  },
};

// ---- route modules ----
const routes = [];
const routesDir = path.join(__dirname, "routes");
if (fs.existsSync(routesDir)) {
  for (const f of fs.readdirSync(routesDir).filter((n) => n.endsWith(".js")).sort()) {
    const m = require(path.join(routesDir, f));
    if (m && typeof m.handle === "function") routes.push(m);
  }
}

// ---- helpers ----
function serverNow() {
  return Date.now() + skewMs;
}

function nextRequestId() {
  requestCounter += 1;
  return "twin-" + requestCounter;
}

function jsonError(res, status, code, message, rid) {
  const body = Buffer.from(JSON.stringify({ __type: code, message }));
  res.writeHead(status, {
    "Content-Type": "application/x-amz-json-1.1",
    "Content-Length": body.length,
    "x-amzn-RequestId": rid,
    Date: new Date(serverNow()).toUTCString(),
  });
  res.end(body);
}

function xmlEscape(s) {
  return String(s).replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]);
}

function xmlError(res, status, code, message, rid) {
  const body = Buffer.from(
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>' + xmlEscape(code) + "</Code><Message>" +
      xmlEscape(message) + "</Message><RequestId>" + rid + "</RequestId><HostId>twin</HostId></Error>");
  res.writeHead(status, {
    "Content-Type": "application/xml",
    "Content-Length": body.length,
    "x-amz-request-id": rid,
    Date: new Date(serverNow()).toUTCString(),
  });
  res.end(body);
}

function parseAuth(h) {
  const m = /^AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(h || "");
  if (!m) return null;
  const scope = m[1].split("/");
  if (scope.length !== 5) return null;
  return { accessKey: scope[0], date: scope[1], region: scope[2], service: scope[3], signedHeaders: m[2].split(";"), signature: m[3] };
}

function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || "");
  if (!m) return null;
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

// The query as smithy wants it: decoded keys to a string or an array of strings. '+' is kept
// literally, as SigV4 canonicalisation does.
function queryMap(raw) {
  const q = {};
  if (!raw) return q;
  for (const part of raw.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const k = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
    const v = eq < 0 ? "" : decodeURIComponent(part.slice(eq + 1));
    if (k in q) q[k] = [].concat(q[k], v);
    else q[k] = v;
  }
  return q;
}

// Returns {ok, code, message, status, auth}. s3 selects S3's signing rules.
async function verify(req, body, s3) {
  const auth = parseAuth(req.headers["authorization"]);
  if (!auth) return { ok: false, status: s3 ? 403 : 400, code: s3 ? "AccessDenied" : "IncompleteSignatureException", message: "missing or malformed Authorization" };
  const secret = ctx.keys.get(auth.accessKey);
  if (!secret) return { ok: false, status: 403, code: s3 ? "InvalidAccessKeyId" : "UnrecognizedClientException", message: "The security token included in the request is invalid." };
  const date = parseAmzDate(req.headers["x-amz-date"]);
  if (!date) return { ok: false, status: 400, code: s3 ? "AccessDenied" : "IncompleteSignatureException", message: "missing X-Amz-Date" };
  const now = serverNow();
  if (Math.abs(date.getTime() - now) > 15 * 60 * 1000) {
    const amz = req.headers["x-amz-date"];
    const code = skewCode || (s3 ? "RequestTimeTooSkewed" : "InvalidSignatureException");
    const message = s3
      ? "The difference between the request time and the current time is too large."
      : "Signature expired: " + amz + " is now earlier than " + new Date(now - 15 * 60 * 1000).toISOString().replace(/[-:]|\.\d{3}/g, "") + " (" + new Date(now).toISOString() + " - 15 min.)";
    return { ok: false, status: s3 ? 403 : 400, code, message, skew: true };
  }
  if (s3) {
    for (const h of Object.keys(req.headers))
      if (h.startsWith("x-amz-") && !auth.signedHeaders.includes(h))
        return { ok: false, status: 403, code: "AccessDenied", message: "There were headers present in the request which were not signed: " + h };
    if (!req.headers["x-amz-content-sha256"])
      return { ok: false, status: 400, code: "InvalidRequest", message: "Missing required header for this request: x-amz-content-sha256" };
  }
  const url = req.url;
  const qi = url.indexOf("?");
  const headers = {};
  for (const h of auth.signedHeaders) {
    if (req.headers[h] === undefined) return { ok: false, status: 403, code: s3 ? "SignatureDoesNotMatch" : "InvalidSignatureException", message: "signed header " + h + " is missing" };
    headers[h] = req.headers[h];
  }
  const credentials = { accessKeyId: auth.accessKey, secretAccessKey: secret };
  if (req.headers["x-amz-security-token"]) credentials.sessionToken = req.headers["x-amz-security-token"];
  const signer = new SignatureV4({
    credentials,
    region: ctx.region,
    service: s3 ? "s3" : auth.service,
    sha256: Sha256,
    uriEscapePath: !s3,
    applyChecksum: s3,
  });
  const signed = await signer.sign(
    { method: req.method, protocol: "http:", hostname: "127.0.0.1", path: qi < 0 ? url : url.slice(0, qi), query: queryMap(qi < 0 ? "" : url.slice(qi + 1)), headers, body },
    { signingDate: date });
  const want = signed.headers["authorization"];
  if (want !== req.headers["authorization"])
    return { ok: false, status: s3 ? 403 : 400, code: s3 ? "SignatureDoesNotMatch" : "InvalidSignatureException",
             message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method." };
  if (!s3 && auth.region !== ctx.region)
    return { ok: false, status: 400, code: "InvalidSignatureException", message: "Credential should be scoped to a valid region." };
  return { ok: true, auth };
}

// Route modules that answer signed requests of their own before the pipeline (listgen.js) check
// them with the same rules: await ctx.verify(req, body, s3) gives {ok, status, code, message}.
ctx.verify = verify;

// ---- SSM-like service ----
function ssmHandle(op, input, rid, res) {
  const reply = (obj) => ctx.json(res, 200, obj, { "Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": rid, Date: new Date(serverNow()).toUTCString() });
  const fail = (code, msg) => jsonError(res, 400, code, msg, rid);
  if (typeof input !== "object" || input === null) return fail("SerializationException", "body is not a JSON object");
  switch (op) {
    case "PutParameter": {
      if (typeof input.Name !== "string" || typeof input.Value !== "string") return fail("ValidationException", "Name and Value are required");
      const old = ssm.get(input.Name);
      if (old && !input.Overwrite) return fail("ParameterAlreadyExists", "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.");
      const version = old ? old.Version + 1 : 1;
      ssm.set(input.Name, { Name: input.Name, Type: input.Type || "String", Value: input.Value, Version: version, LastModifiedDate: Date.now() / 1000, ARN: "arn:aws:ssm:" + ctx.region + ":123456789012:parameter" + (input.Name.startsWith("/") ? "" : "/") + input.Name, DataType: "text" });
      return reply({ Version: version, Tier: "Standard" });
    }
    case "GetParameter": {
      const p = ssm.get(input.Name);
      if (!p) return fail("ParameterNotFound", "Parameter " + input.Name + " not found.");
      return reply({ Parameter: p });
    }
    case "DeleteParameter": {
      if (!ssm.delete(input.Name)) return fail("ParameterNotFound", "Parameter " + input.Name + " not found.");
      return reply({});
    }
    case "GetParametersByPath": {
      // Sorted by name, MaxResults (1..10, default 10) per page, NextToken = the next index;
      // without Recursive only the level right under Path.
      const pre = String(input.Path || "/");
      const max = input.MaxResults === undefined ? 10 : Number(input.MaxResults);
      if (!(max >= 1 && max <= 10)) return fail("ValidationException", "MaxResults must be 1..10");
      const all = [...ssm.values()].filter((p) => p.Name.startsWith(pre) && (input.Recursive || !p.Name.slice(pre.length).includes("/")))
        .sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
      const start = input.NextToken === undefined ? 0 : Number(input.NextToken);
      if (!(start >= 0)) return fail("ValidationException", "bad NextToken");
      const page = all.slice(start, start + max);
      return reply(start + max < all.length ? { Parameters: page, NextToken: String(start + max) } : { Parameters: page });
    }
    default:
      return fail("InvalidAction", "unknown operation " + op);
  }
}

// ---- S3 through s3rver ----
let s3rverPort = 0;
function s3Forward(req, body, res, rid) {
  const headers = { ...req.headers };
  // Verified here; s3rver only knows its own key pair, so it gets the request anonymously.
  delete headers["authorization"];
  // s3rver reads x-amz-copy-source with decodeURI, which leaves %2B, %2F and other reserved
  // escapes encoded (S3 decodes them all); hand it the form decodeURI undoes exactly.
  if (headers["x-amz-copy-source"]) {
    try {
      headers["x-amz-copy-source"] = encodeURI(decodeURIComponent(headers["x-amz-copy-source"]));
    } catch (e) {
      return xmlError(res, 400, "InvalidArgument", "bad x-amz-copy-source", rid);
    }
  }
  const up = http.request({ host: "127.0.0.1", port: s3rverPort, method: req.method, path: req.url, headers }, (ur) => {
    const h = { ...ur.headers, "x-amz-request-id": rid, date: new Date(serverNow()).toUTCString() };
    res.writeHead(ur.statusCode, h);
    ur.pipe(res);
  });
  up.on("error", (e) => xmlError(res, 500, "InternalError", "s3rver: " + e.message, rid));
  up.end(body);
}

// ---- control ----
function control(req, res, body) {
  const url = req.url.split("?")[0];
  let args = {};
  if (body.length) {
    try {
      args = JSON.parse(body.toString("utf8"));
    } catch (e) {
      return ctx.json(res, 400, { error: "bad JSON" });
    }
  }
  if (url === "/__control/faults" && req.method === "POST") {
    faults = faults.concat(Array.isArray(args) ? args : [args]);
    return ctx.json(res, 200, { queued: faults.length });
  }
  if (url === "/__control/reset" && req.method === "POST") {
    faults = [];
    reqLog = [];
    skewMs = 0;
    skewCode = null;
    ssm.clear();
    for (const k of Object.keys(ctx.state)) delete ctx.state[k];
    return ctx.json(res, 200, { ok: true });
  }
  if (url === "/__control/log") return ctx.json(res, 200, reqLog);
  const m = /^\/__control\/([^/]+)\/([^/]+)$/.exec(url);
  if (m) {
    const r = routes.find((x) => x.name === m[1]);
    const out = r && typeof r.control === "function" ? r.control(m[2], args, ctx) : undefined;
    // A module's control may answer a Promise (e.g. it writes into s3rver first).
    if (out && typeof out.then === "function")
      return out.then((v) => (v !== undefined ? ctx.json(res, 200, v) : ctx.json(res, 404, { error: "no such control " + url })),
                      (e) => ctx.json(res, 500, { error: String(e) }));
    if (out !== undefined) return ctx.json(res, 200, out);
  }
  return ctx.json(res, 404, { error: "no such control " + url });
}

// ---- the request pipeline ----
async function handle(req, res, body) {
  if (req.url.startsWith("/__control/")) return control(req, res, body);
  for (const r of routes) {
    try {
      if (r.handle(req, res, body, ctx)) return;
    } catch (e) {
      ctx.log({ route: r.name, method: req.method, url: req.url, error: String(e) });
      return ctx.json(res, 500, { error: String(e) });
    }
  }
  const rid = nextRequestId();
  const auth = parseAuth(req.headers["authorization"]);
  const s3 = auth ? auth.service === "s3" : !req.headers["x-amz-target"];
  const entry = { route: s3 ? "s3" : (auth && auth.service) || "ssm", method: req.method, url: req.url, target: req.headers["x-amz-target"] || null,
                  amz_date: req.headers["x-amz-date"] || null, request_id: rid, headers: req.headers, time_ms: Date.now() };
  reqLog.push(entry);
  const fault = faults.shift();
  if (fault) {
    entry.fault = fault;
    if (fault.skew_s !== undefined) {
      skewMs = fault.skew_s * 1000;
      skewCode = fault.skew_code || null;
    }
    if (fault.delay_ms) await new Promise((r) => setTimeout(r, fault.delay_ms));
    if (fault.reset) {
      req.socket.destroy();
      return;
    }
    if (fault.truncate) {
      res.writeHead(200, { "Content-Type": "application/x-amz-json-1.1", "Content-Length": 1000, "x-amzn-RequestId": rid });
      res.write('{"Parameter": {"Na');
      setTimeout(() => req.socket.destroy(), 20);
      return;
    }
    if (fault.throttle) {
      entry.signature_ok = null;
      if (s3) return xmlError(res, 503, "SlowDown", "Please reduce your request rate.", rid);
      return jsonError(res, 400, "ThrottlingException", "Rate exceeded", rid);
    }
    if (fault.status) {
      entry.signature_ok = null;
      const code = fault.code || (fault.status >= 500 ? "InternalServerError" : "ValidationException");
      const msg = fault.message || "injected fault";
      if (s3) return xmlError(res, fault.status, code, msg, rid);
      return jsonError(res, fault.status, code, msg, rid);
    }
  }
  const v = await verify(req, body, s3);
  entry.signature_ok = v.ok;
  if (!v.ok) {
    entry.error = v.code;
    if (s3) return xmlError(res, v.status, v.code, v.message, rid);
    return jsonError(res, v.status, v.code, v.message, rid);
  }
  if (s3) {
    if (!s3rverPort) return xmlError(res, 501, "NotImplemented", "start the twin with --s3rver", rid);
    return s3Forward(req, body, res, rid);
  }
  const target = String(req.headers["x-amz-target"] || "");
  // Service modules: a route module with signed(req, res, body, ctx, info) answers verified
  // requests of its own service (info.service is the credential scope's service name).
  for (const r of routes) {
    if (typeof r.signed !== "function") continue;
    try {
      if (r.signed(req, res, body, ctx, { rid, service: auth ? auth.service : null, target })) return;
    } catch (e) {
      ctx.log({ route: r.name, method: req.method, url: req.url, error: String(e) });
      return jsonError(res, 500, "InternalFailure", String(e), rid);
    }
  }
  if (!target.startsWith("AmazonSSM.")) return jsonError(res, 400, "UnknownOperationException", "unknown target " + target, rid);
  let input;
  try {
    input = JSON.parse(body.toString("utf8") || "null");
  } catch (e) {
    return jsonError(res, 400, "SerializationException", "body is not JSON", rid);
  }
  return ssmHandle(target.slice("AmazonSSM.".length), input, rid, res);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    handle(req, res, Buffer.concat(chunks)).catch((e) => {
      console.error(e && e.stack ? e.stack : String(e));
      if (!res.headersSent) ctx.json(res, 500, { __type: "InternalFailure", message: String(e) });
    });
  });
});
server.keepAliveTimeout = 30000;

async function main() {
  let s3srv = null;
  let dir = null;
  if (opts.s3rver) {
    const S3rver = require("s3rver");
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "aws-twin-s3-"));
    s3srv = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: dir, vhostBuckets: false,
                         configureBuckets: opts.buckets.map((name) => ({ name })) });
    const addr = await s3srv.run();
    s3rverPort = addr.port;
    ctx.s3rverPort = addr.port; // route modules may write objects straight into s3rver
  }
  server.listen(0, "127.0.0.1", () => {
    ctx.port = server.address().port;
    process.stdout.write("PORT " + ctx.port + "\n");
  });
  const stop = () => {
    server.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  };
  process.stdin.on("end", stop);
  process.stdin.on("close", stop);
  process.stdin.resume();
  process.on("SIGTERM", stop);
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
