// sts.js - aws-twin route module: STS AssumeRole (signed, query protocol) and expired
// credentials, for the assume-role profiles and the ExpiredToken handling of retraind's tests.
//
// Signed (through signed(), after the server verified the SigV4 signature, credential scope
// service "sts"):
//   POST / with Action=AssumeRole   Version=2011-06-15, RoleArn, RoleSessionName (2-64 of
//                                   [\w+=,.@-]), optional ExternalId and DurationSeconds
//                                   (900..43200). Answers the XML AssumeRoleResponse with a new
//                                   numbered key set (AccessKeyId ASIAROLE<n>, secret
//                                   "<secret_prefix>-role-<n>", token "role-session-<n>") that the
//                                   twin then accepts for later signed calls (ctx.addKey) as long
//                                   as the token sent with it is the one handed out.
// Every other signed request (handle(), before faults and the signature check) is answered
// "expired" in its protocol's shape when its access key was revoked or while expire's count
// lasts: S3 (scope service s3) 400 <Error><Code>ExpiredToken</Code>; JSON (X-Amz-Target) 400
// {"__type":"ExpiredTokenException"}; query (form body with Action=) 400
// <ErrorResponse>...<Code>ExpiredToken</Code>; rest-json 400 X-Amzn-ErrorType
// ExpiredTokenException. An assumed key sent with another session token: 403
// InvalidClientTokenId.
//
// Control (POST /__control/sts/<verb>):
//   config {role_arn (expected; null: any), external_id (expected; null: any), expires_in
//           (seconds; null: DurationSeconds or 3600), error ({status, code, message}: answer
//           every AssumeRole with it; null: none), secret_prefix}
//   expire {count}   the next count signed requests (AssumeRole itself excepted) made with
//                    credentials the twin had already seen before this call (or with no session
//                    token) answer expired; credentials fetched afterwards are not affected, so
//                    a retry with fresh ones succeeds whatever the order requests arrive in;
//                    with "any": true every signed request counts (fresh credentials refused too)
//   revoke {}        every key set handed out so far answers expired from now on
//   counts {}        -> {assume_role, expired_answers, bad_token, issued}
//   requests {}      -> [{RoleArn, RoleSessionName, ExternalId, DurationSeconds, source_key}]
"use strict";

const NAME = "sts";

function st(ctx) {
  if (!ctx.state[NAME]) {
    ctx.state[NAME] = {
      seq: 0,
      role_arn: null,
      external_id: null,
      expires_in: null,
      error: null,
      secret_prefix: "twin-secret",
      expire_next: 0,
      seen: new Set(), // session tokens of every signed request so far ("" for none)
      stale: new Set(), // the tokens seen before the last expire call
      issued: new Map(), // access key -> {token, revoked}
      counts: { assume_role: 0, expired_answers: 0, bad_token: 0 },
      requests: [],
    };
  }
  return ctx.state[NAME];
}

function esc(v) {
  return String(v).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function send(res, status, body, headers) {
  res.writeHead(status, { "Content-Length": Buffer.byteLength(body), ...headers });
  res.end(body);
}

function accessKey(req) {
  const m = /Credential=([^/,\s]+)\/\d{8}\/[^/]+\/([^/]+)\//.exec(req.headers.authorization || "");
  return m ? { ak: m[1], service: m[2] } : null;
}

function isQuery(req, body) {
  return /^application\/x-www-form-urlencoded/.test(req.headers["content-type"] || "") &&
    /(^|&)Action=/.test(body.toString("utf8"));
}

// Answers an auth failure in the shape of the request's protocol.
function authError(req, res, body, service, code, jsonCode, status, message) {
  const rid = "twin-sts-auth";
  if (service === "s3")
    return send(res, status, `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code>` +
      `<Message>${esc(message)}</Message><RequestId>${rid}</RequestId></Error>`,
      { "Content-Type": "application/xml", "x-amz-request-id": rid });
  if (req.headers["x-amz-target"])
    return send(res, status, JSON.stringify({ __type: jsonCode, message }),
      { "Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": rid });
  if (isQuery(req, body))
    return send(res, status, `<ErrorResponse><Error><Type>Sender</Type><Code>${code}</Code>` +
      `<Message>${esc(message)}</Message></Error><RequestId>${rid}</RequestId></ErrorResponse>`,
      { "Content-Type": "text/xml", "x-amzn-RequestId": rid });
  return send(res, status, JSON.stringify({ message }),
    { "Content-Type": "application/json", "X-Amzn-ErrorType": jsonCode, "x-amzn-RequestId": rid });
}

function assumeRole(req, res, body, ctx, s, info) {
  const form = new URLSearchParams(body.toString("utf8"));
  const fail = (status, code, message) => {
    send(res, status, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>` +
      `<Type>Sender</Type><Code>${esc(code)}</Code><Message>${esc(message)}</Message></Error>` +
      `<RequestId>${info.rid}</RequestId></ErrorResponse>`, { "Content-Type": "text/xml", "x-amzn-RequestId": info.rid });
    return true;
  };
  s.counts.assume_role += 1;
  const src = accessKey(req);
  const rec = { RoleArn: form.get("RoleArn"), RoleSessionName: form.get("RoleSessionName"),
                ExternalId: form.get("ExternalId"), DurationSeconds: form.get("DurationSeconds"),
                source_key: src ? src.ak : null };
  s.requests.push(rec);
  ctx.log({ route: NAME, what: "assume_role", ...rec });
  if (form.get("Version") !== "2011-06-15") return fail(400, "InvalidParameterValue", "bad Version");
  if (!/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/.test(rec.RoleArn || ""))
    return fail(400, "ValidationError", "bad RoleArn");
  if (!/^[\w+=,.@-]{2,64}$/.test(rec.RoleSessionName || ""))
    return fail(400, "ValidationError", "bad RoleSessionName");
  let duration = 3600;
  if (rec.DurationSeconds !== null) {
    duration = Number(rec.DurationSeconds);
    if (!Number.isInteger(duration) || duration < 900 || duration > 43200)
      return fail(400, "ValidationError", "DurationSeconds must be 900..43200");
  }
  if (s.error) return fail(s.error.status || 403, s.error.code || "AccessDenied", s.error.message || "configured failure");
  if (s.role_arn !== null && rec.RoleArn !== s.role_arn) return fail(403, "AccessDenied", "not authorized to assume " + rec.RoleArn);
  if (s.external_id !== null && rec.ExternalId !== s.external_id) return fail(403, "AccessDenied", "bad ExternalId");
  s.seq += 1;
  const n = s.seq;
  const ak = "ASIAROLE" + n, sk = `${s.secret_prefix}-role-${n}`, token = `role-session-${n}`;
  ctx.addKey(ak, sk);
  s.issued.set(ak, { token, revoked: false });
  const exp = ctx.isoIn(s.expires_in !== null ? s.expires_in : duration);
  send(res, 200,
    `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n` +
    `  <AssumeRoleResult>\n` +
    `    <AssumedRoleUser><Arn>${esc(rec.RoleArn)}/${esc(rec.RoleSessionName)}</Arn>` +
    `<AssumedRoleId>AROATWIN:${esc(rec.RoleSessionName)}</AssumedRoleId></AssumedRoleUser>\n` +
    `    <Credentials>\n` +
    `      <AccessKeyId>${ak}</AccessKeyId>\n` +
    `      <SecretAccessKey>${esc(sk)}</SecretAccessKey>\n` +
    `      <SessionToken>${esc(token)}</SessionToken>\n` +
    `      <Expiration>${exp}</Expiration>\n` +
    `    </Credentials>\n` +
    `  </AssumeRoleResult>\n` +
    `  <ResponseMetadata><RequestId>${info.rid}</RequestId></ResponseMetadata>\n` +
    `</AssumeRoleResponse>\n`, { "Content-Type": "text/xml", "x-amzn-RequestId": info.rid });
  return true;
}

module.exports = {
  name: NAME,
  handle(req, res, body, ctx) {
    const a = accessKey(req);
    if (!a || req.url.startsWith("/__control/")) return false;
    const s = st(ctx);
    if (a.service === "sts" && /(^|&)Action=AssumeRole(&|$)/.test(body.toString("utf8"))) return false;
    const issued = s.issued.get(a.ak);
    const token = req.headers["x-amz-security-token"] || "";
    s.seen.add(token);
    let why = null;
    if (issued && issued.revoked) why = "revoked";
    else if (s.expire_next > 0 && (s.expire_any || token === "" || s.stale.has(token))) {
      s.expire_next -= 1;
      why = "expire";
    }
    if (why) {
      s.counts.expired_answers += 1;
      ctx.log({ route: NAME, what: "expired", why, method: req.method, url: req.url, access_key: a.ak,
                target: req.headers["x-amz-target"] || null });
      authError(req, res, body, a.service, "ExpiredToken", "ExpiredTokenException", 400,
                "The security token included in the request is expired");
      return true;
    }
    if (issued && req.headers["x-amz-security-token"] !== issued.token) {
      s.counts.bad_token += 1;
      ctx.log({ route: NAME, what: "bad_token", url: req.url, access_key: a.ak });
      authError(req, res, body, a.service, "InvalidClientTokenId", "InvalidClientTokenId", 403,
                "The security token included in the request is invalid.");
      return true;
    }
    return false;
  },
  signed(req, res, body, ctx, info) {
    if (info.service !== "sts" || req.method !== "POST") return false;
    if (!/(^|&)Action=AssumeRole(&|$)/.test(body.toString("utf8"))) return false;
    return assumeRole(req, res, body, ctx, st(ctx), info);
  },
  control(verb, args, ctx) {
    const s = st(ctx);
    args = args || {};
    if (verb === "config") {
      for (const k of ["role_arn", "external_id", "expires_in", "error", "secret_prefix"])
        if (k in args) s[k] = args[k];
      return { ok: true };
    }
    if (verb === "expire") {
      s.expire_next += Number(args.count || 1);
      s.stale = new Set(s.seen);
      s.expire_any = !!args.any;
      return { ok: true, pending: s.expire_next };
    }
    if (verb === "revoke") {
      let n = 0;
      for (const v of s.issued.values()) if (!v.revoked) { v.revoked = true; n += 1; }
      return { ok: true, revoked: n };
    }
    if (verb === "counts") return { ...s.counts, issued: s.issued.size, expire_pending: s.expire_next };
    if (verb === "requests") return s.requests;
    return undefined;
  },
};
