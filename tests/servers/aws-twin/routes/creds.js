// creds.js - aws-twin route module: the credential endpoints retraind's credential providers
// talk to, on loopback, for tests.
//
// Paths owned:
//   PUT  /latest/api/token                                 IMDSv2 session token (needs the
//                                                          X-aws-ec2-metadata-token-ttl-seconds
//                                                          header, 1..21600, else 400)
//   GET  /latest/meta-data/iam/security-credentials/       role name (needs a valid token: 401)
//   GET  /latest/meta-data/iam/security-credentials/<role> credentials JSON (Code, Type, ...)
//   GET  /latest/meta-data/placement/region                the region
//   GET  /ecs/...  and  /v2/credentials/...                container credentials JSON; checks the
//                                                          Authorization header when a token is set
//   POST /  with Action=AssumeRoleWithWebIdentity          STS (query protocol, XML reply); the
//                                                          request must NOT be signed
//
// Every answer hands out a new numbered key set: AccessKeyId "<AKID prefix><n>", secret
// "<secret_prefix>-<kind>-<n>", token "<kind>-session-<n>", Expiration expires_in seconds from now,
// so a test can tell a refreshed set from the first one and grep logs for the secret prefix.
//
// Control (POST /__control/creds/<verb>):
//   config {imds: {...}, ecs: {...}, sts: {...}, secret_prefix}  merges settings:
//     imds: {role, expires_in, token_status (answer the token PUT with this status instead),
//            hang (never answer anything: the socket stays open), region}
//     ecs:  {token (expected Authorization value; null: none), expires_in, status}
//     sts:  {token (expected WebIdentityToken; null: any), role_arn (expected; null: any),
//            expires_in, error ({status, code, message})}
//   counts {}  -> {imds_token, imds_role, imds_creds, imds_region, ecs, sts, ecs_bad_auth,
//                  imds_bad_token}
"use strict";

const NAME = "creds";

function st(ctx) {
  if (!ctx.state[NAME]) {
    ctx.state[NAME] = {
      seq: 0,
      secret_prefix: "twin-secret",
      imds: { role: "retraind-test-role", expires_in: 3600, token_status: 0, hang: false,
              region: "eu-west-3", tokens: {} },
      ecs: { token: null, expires_in: 3600, status: 0 },
      sts: { token: null, role_arn: null, expires_in: 3600, error: null },
      counts: { imds_token: 0, imds_role: 0, imds_creds: 0, imds_region: 0, ecs: 0, sts: 0,
                ecs_bad_auth: 0, imds_bad_token: 0, sts_signed: 0 },
      hung: [],
    };
  }
  return ctx.state[NAME];
}

function keyset(s, kind, expiresIn, ctx) {
  s.seq += 1;
  const n = s.seq;
  return {
    AccessKeyId: (kind === "imds" ? "ASIAIMDS" : kind === "ecs" ? "ASIAECS" : "ASIASTS") + n,
    SecretAccessKey: `${s.secret_prefix}-${kind}-${n}`,
    Token: `${kind}-session-${n}`,
    Expiration: ctx.isoIn(expiresIn),
  };
}

function xmlEscape(v) {
  return String(v).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function text(res, status, body, type) {
  res.writeHead(status, { "Content-Type": type || "text/plain", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

function handleImds(req, res, ctx, s) {
  const url = req.url.split("?")[0];
  const imds = s.imds;
  if (imds.hang) {
    // Keep the socket open without answering: the client's timeout must give up.
    ctx.log({ route: NAME, what: "imds_hang" });
    s.hung.push(res);
    return true;
  }
  if (url === "/latest/api/token") {
    if (req.method !== "PUT") {
      text(res, 405, "");
      return true;
    }
    s.counts.imds_token += 1;
    ctx.log({ route: NAME, what: "imds_token" });
    if (imds.token_status) {
      text(res, imds.token_status, "");
      return true;
    }
    const ttl = Number(req.headers["x-aws-ec2-metadata-token-ttl-seconds"]);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) {
      text(res, 400, "");
      return true;
    }
    const tok = `imds-token-${s.counts.imds_token}`;
    imds.tokens[tok] = Date.now() + ttl * 1000;
    res.writeHead(200, { "Content-Type": "text/plain", "X-aws-ec2-metadata-token-ttl-seconds": String(ttl) });
    res.end(tok);
    return true;
  }
  const prefix = "/latest/meta-data/";
  if (!url.startsWith(prefix))
    return false;
  if (req.method !== "GET") {
    text(res, 405, "");
    return true;
  }
  const tok = req.headers["x-aws-ec2-metadata-token"];
  const tokenOk = tok && imds.tokens[tok] && imds.tokens[tok] > Date.now();
  // IMDSv1 (no token) is allowed only when the token PUT is configured to fail.
  if (!tokenOk && !(imds.token_status && !tok)) {
    s.counts.imds_bad_token += 1;
    text(res, 401, "");
    return true;
  }
  if (url === "/latest/meta-data/placement/region") {
    s.counts.imds_region += 1;
    text(res, 200, imds.region);
    return true;
  }
  const credPrefix = "/latest/meta-data/iam/security-credentials/";
  if (url === credPrefix) {
    s.counts.imds_role += 1;
    ctx.log({ route: NAME, what: "imds_role" });
    if (!imds.role) {
      text(res, 404, "");
      return true;
    }
    text(res, 200, imds.role + "\n");
    return true;
  }
  if (url.startsWith(credPrefix)) {
    const role = decodeURIComponent(url.slice(credPrefix.length));
    s.counts.imds_creds += 1;
    ctx.log({ route: NAME, what: "imds_creds" });
    if (!imds.role || role !== imds.role) {
      text(res, 404, "");
      return true;
    }
    const k = keyset(s, "imds", imds.expires_in, ctx);
    ctx.json(res, 200, { Code: "Success", LastUpdated: ctx.isoIn(0), Type: "AWS-HMAC", ...k });
    return true;
  }
  text(res, 404, "");
  return true;
}

function handleEcs(req, res, ctx, s) {
  s.counts.ecs += 1;
  ctx.log({ route: NAME, what: "ecs" });
  if (req.method !== "GET") {
    text(res, 405, "");
    return true;
  }
  if (s.ecs.token !== null && req.headers.authorization !== s.ecs.token) {
    s.counts.ecs_bad_auth += 1;
    ctx.json(res, 401, { code: "AccessDenied", message: "bad or missing Authorization" });
    return true;
  }
  if (s.ecs.status) {
    ctx.json(res, s.ecs.status, { code: "Failed", message: "configured failure" });
    return true;
  }
  const k = keyset(s, "ecs", s.ecs.expires_in, ctx);
  ctx.json(res, 200, { ...k, RoleArn: "arn:aws:iam::123456789012:role/twin-task", AccountId: "123456789012" });
  return true;
}

function handleSts(req, res, body, ctx, s) {
  const form = new URLSearchParams(body.toString("utf8"));
  s.counts.sts += 1;
  ctx.log({ route: NAME, what: "sts", action: form.get("Action"), role_session_name: form.get("RoleSessionName") });
  const fail = (status, code, message) => {
    const xml = `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>` +
      `<Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message></Error>` +
      `<RequestId>twin-sts-${s.counts.sts}</RequestId></ErrorResponse>`;
    text(res, status, xml, "text/xml");
    return true;
  };
  if (req.headers.authorization) {
    s.counts.sts_signed += 1;
    return fail(400, "InvalidAction", "AssumeRoleWithWebIdentity must not be signed");
  }
  if (form.get("Version") !== "2011-06-15")
    return fail(400, "InvalidParameterValue", "bad Version");
  const sess = form.get("RoleSessionName") || "";
  if (!/^[\w+=,.@-]{2,64}$/.test(sess))
    return fail(400, "ValidationError", "bad RoleSessionName");
  if (s.sts.error)
    return fail(s.sts.error.status || 400, s.sts.error.code || "InvalidIdentityToken",
                s.sts.error.message || "configured failure");
  if (s.sts.role_arn !== null && form.get("RoleArn") !== s.sts.role_arn)
    return fail(403, "AccessDenied", "unexpected RoleArn");
  if (s.sts.token !== null && form.get("WebIdentityToken") !== s.sts.token)
    return fail(400, "InvalidIdentityToken", "the token was not accepted");
  const k = keyset(s, "sts", s.sts.expires_in, ctx);
  const xml =
    `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n` +
    `  <AssumeRoleWithWebIdentityResult>\n` +
    `    <SubjectFromWebIdentityToken>twin-subject</SubjectFromWebIdentityToken>\n` +
    `    <Audience>sts.amazonaws.com</Audience>\n` +
    `    <AssumedRoleUser><Arn>${xmlEscape(form.get("RoleArn") || "")}/${xmlEscape(sess)}</Arn>` +
    `<AssumedRoleId>AROATWIN:${xmlEscape(sess)}</AssumedRoleId></AssumedRoleUser>\n` +
    `    <Credentials>\n` +
    `      <SessionToken>${xmlEscape(k.Token)}</SessionToken>\n` +
    `      <SecretAccessKey>${xmlEscape(k.SecretAccessKey)}</SecretAccessKey>\n` +
    `      <Expiration>${k.Expiration}</Expiration>\n` +
    `      <AccessKeyId>${k.AccessKeyId}</AccessKeyId>\n` +
    `    </Credentials>\n` +
    `    <Provider>twin</Provider>\n` +
    `  </AssumeRoleWithWebIdentityResult>\n` +
    `  <ResponseMetadata><RequestId>twin-sts-${s.counts.sts}</RequestId></ResponseMetadata>\n` +
    `</AssumeRoleWithWebIdentityResponse>\n`;
  text(res, 200, xml, "text/xml");
  return true;
}

module.exports = {
  name: NAME,
  handle(req, res, body, ctx) {
    const s = st(ctx);
    const url = req.url.split("?")[0];
    if (url === "/latest/api/token" || url.startsWith("/latest/meta-data/"))
      return handleImds(req, res, ctx, s);
    if (url.startsWith("/ecs/") || url.startsWith("/v2/credentials/"))
      return handleEcs(req, res, ctx, s);
    if (req.method === "POST" && url === "/" &&
        /(^|&)Action=AssumeRoleWithWebIdentity(&|$)/.test(body.toString("utf8")))
      return handleSts(req, res, body, ctx, s);
    return false;
  },
  control(verb, args, ctx) {
    const s = st(ctx);
    if (verb === "config") {
      for (const part of ["imds", "ecs", "sts"])
        if (args && typeof args[part] === "object" && args[part] !== null)
          Object.assign(s[part], args[part]);
      if (args && typeof args.secret_prefix === "string")
        s.secret_prefix = args.secret_prefix;
      if (!s.imds.hang) {
        for (const r of s.hung.splice(0))
          try { r.destroy(); } catch (e) { /* already gone */ }
      }
      return { ok: true };
    }
    if (verb === "counts")
      return { ...s.counts };
    return undefined;
  },
};
