// ratelimit.js - aws-twin route module: a server-side rate limit on signed requests, answered
// with each protocol's throttling error, for the adaptive retry mode's tests.
//
// Owns no path: when enabled, handle() takes a token for every signed request (Authorization
// AWS4-HMAC-SHA256, any path but /__control/) from a bucket of `burst` tokens refilled at `rate`
// a second; without one it answers: S3 (scope service s3) 503 SlowDown XML; JSON (X-Amz-Target)
// 400 ThrottlingException; query (form body with Action=) 400 Throttling <ErrorResponse>; other
// rest-json 429 X-Amzn-ErrorType ThrottlingException. Requests with a token go on as usual.
//
// Control (POST /__control/ratelimit/<verb>):
//   config {rate, burst}  rate 0 (the default) turns the limit off; the bucket starts full
//   counts {}             -> {allowed, throttled}
"use strict";

const NAME = "ratelimit";

function st(ctx) {
  if (!ctx.state[NAME]) ctx.state[NAME] = { rate: 0, burst: 1, tokens: 0, last: Date.now(), allowed: 0, throttled: 0 };
  return ctx.state[NAME];
}

function send(res, status, body, headers) {
  res.writeHead(status, { "Content-Length": Buffer.byteLength(body), ...headers });
  res.end(body);
}

module.exports = {
  name: NAME,
  handle(req, res, body, ctx) {
    const s = st(ctx);
    const m = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\//.exec(req.headers.authorization || "");
    if (!s.rate || !m || req.url.startsWith("/__control/")) return false;
    const now = Date.now();
    s.tokens = Math.min(s.burst, s.tokens + ((now - s.last) / 1000) * s.rate);
    s.last = now;
    if (s.tokens >= 1) {
      s.tokens -= 1;
      s.allowed += 1;
      return false;
    }
    s.throttled += 1;
    ctx.log({ route: NAME, what: "throttled", method: req.method, url: req.url, target: req.headers["x-amz-target"] || null });
    const rid = "twin-ratelimit-" + s.throttled;
    if (m[1] === "s3")
      send(res, 503, `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>${rid}</RequestId></Error>`,
           { "Content-Type": "application/xml", "x-amz-request-id": rid });
    else if (req.headers["x-amz-target"])
      send(res, 400, JSON.stringify({ __type: "ThrottlingException", message: "Rate exceeded" }),
           { "Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": rid });
    else if (/(^|&)Action=/.test(body.toString("utf8")))
      send(res, 400, `<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>${rid}</RequestId></ErrorResponse>`,
           { "Content-Type": "text/xml", "x-amzn-RequestId": rid });
    else
      send(res, 429, JSON.stringify({ message: "Rate exceeded" }),
           { "Content-Type": "application/json", "X-Amzn-ErrorType": "ThrottlingException", "x-amzn-RequestId": rid });
    return true;
  },
  control(verb, args, ctx) {
    const s = st(ctx);
    args = args || {};
    if (verb === "config") {
      s.rate = Number(args.rate || 0);
      s.burst = Math.max(1, Number(args.burst || s.rate || 1));
      s.tokens = s.burst;
      s.last = Date.now();
      s.allowed = 0;
      s.throttled = 0;
      return { ok: true };
    }
    if (verb === "counts") return { allowed: s.allowed, throttled: s.throttled };
    return undefined;
  },
};
