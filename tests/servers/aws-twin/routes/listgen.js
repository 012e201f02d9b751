// listgen.js - ListObjectsV2 over generated buckets: any number of keys, none stored.
//
// A bucket named "listgen-<N>" (path style: GET /listgen-<N>?list-type=2...) holds N keys made
// on the fly by keyOf(i), i = 0..N-1, already in S3's order (UTF-8 bytes): "k/<i, 7 digits> "
// then one of several hostile tails (spaces, unicode, '+', '%', '=', '&', '<', '"'). Every request
// is signed and checked like the twin's own S3 (ctx.verify, @smithy/signature-v4). Replies follow
// S3: encoding-type=url form-encodes Key and Prefix (space '+', '+' '%2B', '/' kept) and echoes
// <EncodingType>url</EncodingType> before the first <Contents>; max-keys (1..1000, default 1000);
// prefix; opaque continuation tokens (with '+', '/' and '='); ETag as &quot;md5&quot;. The body is
// written in pieces of 50 entries (chunked), so a client sees a page arrive in parts.
//
// Control (POST /__control/listgen/<verb>):
//   faults [{...}, ...]  queued; each is used by one listing request, in order:
//       {"reset_after": n}   send n entries of the page, then destroy the socket
//       {"truncate_after": n} send n entries, end the body there (well-formed HTTP, cut XML)
//       {"garbage_after": n}  send n entries, then bytes that are not XML, end the body
//       {"error_200": true}   a 200 whose body is an <Error> document (InternalError)
//       {"status": 503, "code": "SlowDown"}  an S3 XML error with that status
//       {"doctype": true}     a page that starts with a DOCTYPE declaring an entity
//   stats {}  -> {requests, bad_signatures, pages, entries, faults_used}
//   tail {"i": n} -> {"key": keyOf(n)} (for a test that wants the exact generator)
"use strict";
const crypto = require("crypto");

const TAILS = [
  "cat s/img +é.png",
  "Ünïcödé/a b%20c.png",
  "a+b/x=1&y=2.png",
  "dog/100%.png",
  "é/\"q\" <lt>.png",
  "plain.png",
];

function keyOf(i) {
  return "k/" + String(i).padStart(7, "0") + " " + TAILS[i % TAILS.length];
}

// S3's encoding-type=url: like a form, '/' left alone.
function urlEncode(s) {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase())
    .replace(/%20/g, "+")
    .replace(/%2F/g, "/");
}

function xmlEscape(s) {
  return String(s).replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]);
}

function tokenOf(i) {
  // opaque, with the characters a query must encode
  return "lg+" + Buffer.from("after/" + i).toString("base64") + "/=";
}

function indexOfToken(t) {
  const m = /^lg\+(.*)\/=$/.exec(t || "");
  if (!m) return -1;
  const s = Buffer.from(m[1], "base64").toString();
  const n = /^after\/(\d+)$/.exec(s);
  return n ? Number(n[1]) : -1;
}

// The first index whose key is >= s (keys are sorted by construction).
function lowerBound(n, s) {
  let lo = 0;
  let hi = n;
  const b = Buffer.from(s);
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (Buffer.compare(Buffer.from(keyOf(mid)), b) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function q(url) {
  const out = {};
  const i = url.indexOf("?");
  if (i < 0) return out;
  for (const part of url.slice(i + 1).split("&")) {
    if (!part) continue;
    const eq = part.indexOf("=");
    const k = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
    out[k] = eq < 0 ? "" : decodeURIComponent(part.slice(eq + 1));
  }
  return out;
}

function state(ctx) {
  return ctx.state.listgen || (ctx.state.listgen = { faults: [], requests: 0, bad_signatures: 0, pages: 0, entries: 0, faults_used: 0 });
}

function xmlError(res, status, code, message) {
  const body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>' + code + "</Code><Message>" +
    xmlEscape(message) + "</Message><RequestId>listgen</RequestId></Error>";
  res.writeHead(status, { "Content-Type": "application/xml", "Content-Length": Buffer.byteLength(body), "x-amz-request-id": "listgen" });
  res.end(body);
}

async function serve(req, res, body, ctx, n) {
  const st = state(ctx);
  st.requests++;
  const v = await ctx.verify(req, body, true);
  if (!v.ok) {
    st.bad_signatures++;
    return xmlError(res, v.status, v.code, v.message);
  }
  const fault = st.faults.shift() || {};
  if (Object.keys(fault).length) st.faults_used++;
  if (fault.status) return xmlError(res, fault.status, fault.code || "InternalError", "injected by listgen");
  if (fault.error_200) {
    const b = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>listgen</RequestId></Error>';
    res.writeHead(200, { "Content-Type": "application/xml", "x-amz-request-id": "listgen" });
    return res.end(b);
  }
  const p = q(req.url);
  const url = p["encoding-type"] === "url";
  const enc = (s) => xmlEscape(url ? urlEncode(s) : s);
  let max = p["max-keys"] === undefined ? 1000 : Number(p["max-keys"]);
  if (!(max >= 0)) return xmlError(res, 400, "InvalidArgument", "bad max-keys");
  if (max > 1000) max = 1000;
  const prefix = p.prefix || "";
  let start = lowerBound(n, prefix);
  if (p["continuation-token"] !== undefined) {
    const t = indexOfToken(p["continuation-token"]);
    if (t < 0) return xmlError(res, 400, "InvalidArgument", "The continuation token provided is incorrect");
    start = t;
  } else if (p["start-after"]) {
    start = Math.max(start, lowerBound(n, p["start-after"] + "\u0000"));
  }
  const keys = [];
  let i = start;
  for (; i < n && keys.length < max; i++) {
    const k = keyOf(i);
    if (!k.startsWith(prefix)) break;
    keys.push(k);
  }
  const more = i < n && keyOf(i).startsWith(prefix);
  st.pages++;
  res.writeHead(200, { "Content-Type": "application/xml", "x-amz-request-id": "listgen" });
  let head = '<?xml version="1.0" encoding="UTF-8"?>\n';
  if (fault.doctype) head += '<!DOCTYPE ListBucketResult [<!ENTITY x "boom">]>';
  head += '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>listgen-' + n + "</Name><Prefix>" +
    enc(prefix) + "</Prefix>" + (more ? "<NextContinuationToken>" + xmlEscape(tokenOf(i)) + "</NextContinuationToken>" : "") +
    (p["continuation-token"] !== undefined ? "<ContinuationToken>" + xmlEscape(p["continuation-token"]) + "</ContinuationToken>" : "") +
    "<KeyCount>" + keys.length + "</KeyCount><MaxKeys>" + max + "</MaxKeys>" + (url ? "<EncodingType>url</EncodingType>" : "") +
    "<IsTruncated>" + (more ? "true" : "false") + "</IsTruncated>";
  const cut = fault.reset_after ?? fault.truncate_after ?? fault.garbage_after;
  let piece = head;
  for (let j = 0; j < keys.length; j++) {
    if (cut !== undefined && j === cut) {
      if (piece) res.write(piece);
      if (fault.reset_after !== undefined) return setTimeout(() => req.socket.destroy(), 10);
      if (fault.garbage_after !== undefined) return res.end("<Contents>\u0001<<not xml");
      return res.end("<Contents><Key>" + enc(keys[j]).slice(0, 5));
    }
    const k = keys[j];
    const etag = crypto.createHash("md5").update(k).digest("hex");
    piece += "<Contents><Key>" + enc(k) + "</Key><LastModified>2024-05-01T12:00:00.000Z</LastModified><ETag>&quot;" +
      etag + "&quot;</ETag><ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm><Size>" + (j % 7) +
      "</Size><Owner><ID>o</ID></Owner><StorageClass>STANDARD</StorageClass></Contents>";
    st.entries++;
    if ((j + 1) % 50 === 0) {
      res.write(piece);
      piece = "";
    }
  }
  res.end(piece + "</ListBucketResult>");
}

module.exports = {
  name: "listgen",
  keyOf,
  handle(req, res, body, ctx) {
    const m = /^\/listgen-(\d+)(\?|$)/.exec(req.url);
    if (!m || req.method !== "GET" || typeof ctx.verify !== "function") return false;
    serve(req, res, body, ctx, Number(m[1])).catch((e) => {
      ctx.log({ route: "listgen", method: req.method, url: req.url, error: String(e) });
      if (!res.headersSent) xmlError(res, 500, "InternalError", String(e));
      else req.socket.destroy();
    });
    return true;
  },
  control(verb, args, ctx) {
    const st = state(ctx);
    if (verb === "faults") {
      st.faults = st.faults.concat(Array.isArray(args) ? args : [args]);
      return { queued: st.faults.length };
    }
    if (verb === "stats") return { requests: st.requests, bad_signatures: st.bad_signatures, pages: st.pages, entries: st.entries, faults_used: st.faults_used };
    if (verb === "tail") return { key: keyOf(Number(args.i || 0)) };
    return undefined;
  },
};
