// sqs.js - aws-twin route module: a signed SQS (JSON 1.0, X-Amz-Target AmazonSQS.<Op>) with
// long polling, visibility timeouts and redelivery, plus S3 event notifications into a queue.
//
// Serves signed requests whose credential scope names `sqs`: ReceiveMessage (MaxNumberOfMessages
// 1-10, WaitTimeSeconds 0-20: the request is held until a message is visible or the wait ends;
// a client that hangs up is dropped; VisibilityTimeout per request or the queue's, at most
// `visibility_cap` seconds when set; each receive gives a new ReceiptHandle and raises
// ApproximateReceiveCount), DeleteMessage (the receipt of the latest receive; a receipt never
// handed out is 400 ReceiptHandleIsInvalid; a message already gone succeeds),
// DeleteMessageBatch (<= 10 entries, Successful/Failed), ChangeMessageVisibility. Errors are
// JSON 1.0 `__type` com.amazonaws.sqs#<Code> with x-amzn-query-error; an unknown QueueUrl is 400
// QueueDoesNotExist. Queue URLs: http://127.0.0.1:<port>/000000000000/<name>.
//
// S3 notifications: after `notify {bucket, prefix, queue}`, every S3 PutObject through the twin
// (not a copy) that s3rver answers 200 under that bucket and prefix sends the S3 event JSON of
// aws-wire.md 7.2 (eventName ObjectCreated:Put, key form-encoded, eTag the body's MD5, size,
// sequencer) to the queue, as S3 does.
//
// Control (POST /__control/sqs/<verb>):
//   create {name, visibility?}      -> {url} (an existing queue is kept)
//   send {queue, body}              -> {id} (queue: a name or URL)
//   s3_event {queue, bucket, key, etag?, size?, event?} -> {id}: an S3 event for a raw key
//   test_event {queue, bucket}      -> {id}: S3's s3:TestEvent message
//   notify {bucket, prefix, queue}  -> {ok}: S3 PUTs under bucket/prefix raise events
//   depth {queue}                   -> {visible, in_flight, total}
//   messages {queue}                -> [{id, body, receive_count, visible}]
//   counts {}                       -> {ReceiveMessage, DeleteMessage, DeleteMessageBatch,
//                                       received (messages), deleted, dropped_polls, held_deletes}
//   hold_deletes {on}               -> DeleteMessage(Batch) requests are held unanswered (a test
//                                       kills the daemon while one waits)
//   visibility_cap {seconds}        -> every receive hides messages at most that long
"use strict";

const crypto = require("crypto");

const NAME = "sqs";
const ACCOUNT = "000000000000";

function st(ctx) {
  if (!ctx.state[NAME])
    ctx.state[NAME] = {
      queues: new Map(), // name -> {name, url, visibility, messages: []}
      receipts: new Map(), // receipt -> message id
      notify: [],
      seq: 0,
      seqS3: 0,
      cap: 0,
      holdDeletes: false,
      counts: { ReceiveMessage: 0, DeleteMessage: 0, DeleteMessageBatch: 0, ChangeMessageVisibility: 0, received: 0, deleted: 0, dropped_polls: 0, held_deletes: 0 },
      waiters: new Set(),
    };
  return ctx.state[NAME];
}

function md5(s) {
  return crypto.createHash("md5").update(s).digest("hex");
}

function queueUrl(ctx, name) {
  return `http://127.0.0.1:${ctx.port}/${ACCOUNT}/${name}`;
}

function findQueue(s, ref) {
  if (!ref) return null;
  const name = String(ref).split("/").pop();
  const q = s.queues.get(name);
  if (!q) return null;
  if (String(ref).includes("/") && !String(ref).endsWith(`/${ACCOUNT}/${name}`)) return null;
  return q;
}

function createQueue(ctx, name, visibility) {
  const s = st(ctx);
  if (!s.queues.has(name)) s.queues.set(name, { name, url: queueUrl(ctx, name), visibility: visibility || 30, messages: [] });
  return s.queues.get(name);
}

function sendMessage(ctx, q, body) {
  const s = st(ctx);
  s.seq += 1;
  const id = `${String(s.seq).padStart(8, "0")}-0000-4000-8000-000000000000`;
  q.messages.push({ id, body: String(body), md5: md5(String(body)), receipt: null, visibleAt: 0, receiveCount: 0, sentAt: Date.now() });
  wake(s);
  return id;
}

// S3's key encoding in events: form encoding, space as '+'.
function formEncode(key) {
  return encodeURIComponent(key).replace(/%20/g, "+").replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

function s3Event(ctx, bucket, key, etag, size, eventName) {
  const s = st(ctx);
  s.seqS3 += 1;
  return JSON.stringify({
    Records: [{
      eventVersion: "2.1", eventSource: "aws:s3", awsRegion: ctx.region, eventTime: new Date().toISOString(), eventName: eventName || "ObjectCreated:Put",
      userIdentity: { principalId: "AWS:TWIN" }, requestParameters: { sourceIPAddress: "127.0.0.1" },
      responseElements: { "x-amz-request-id": "twin", "x-amz-id-2": "twin" },
      s3: { s3SchemaVersion: "1.0", configurationId: "twin",
            bucket: { name: bucket, ownerIdentity: { principalId: "TWIN" }, arn: `arn:aws:s3:::${bucket}` },
            object: { key: formEncode(key), size: size === undefined ? 0 : size, eTag: etag || md5(""), sequencer: s.seqS3.toString(16).toUpperCase().padStart(18, "0") } },
    }],
  });
}

function wake(s) {
  for (const w of [...s.waiters]) w.check();
}

function jsonReply(res, status, obj, rid, extra) {
  const text = JSON.stringify(obj);
  res.writeHead(status, { "Content-Type": "application/x-amz-json-1.0", "Content-Length": Buffer.byteLength(text), "x-amzn-RequestId": rid, ...(extra || {}) });
  res.end(text);
  return true;
}

function sqsError(res, status, code, message, rid, legacy) {
  return jsonReply(res, status, { __type: `com.amazonaws.sqs#${code}`, message }, rid, { "x-amzn-query-error": `${legacy || code};Sender` });
}

function takeVisible(s, q, max, vis) {
  const now = Date.now();
  const out = [];
  for (const m of q.messages) {
    if (out.length >= max) break;
    if (m.visibleAt > now) continue;
    m.receiveCount += 1;
    m.receipt = crypto.randomBytes(24).toString("base64");
    s.receipts.set(m.receipt, m.id);
    m.visibleAt = now + vis * 1000;
    out.push({ MessageId: m.id, ReceiptHandle: m.receipt, MD5OfBody: m.md5, Body: m.body,
               Attributes: { ApproximateReceiveCount: String(m.receiveCount), SentTimestamp: String(m.sentAt) } });
  }
  s.counts.received += out.length;
  return out;
}

function receive(req, res, input, ctx, rid) {
  const s = st(ctx);
  const q = findQueue(s, input.QueueUrl);
  if (!q) return sqsError(res, 400, "QueueDoesNotExist", "The specified queue does not exist.", rid, "AWS.SimpleQueueService.NonExistentQueue");
  const max = input.MaxNumberOfMessages === undefined ? 1 : input.MaxNumberOfMessages;
  const wait = input.WaitTimeSeconds === undefined ? 0 : input.WaitTimeSeconds;
  let vis = input.VisibilityTimeout === undefined ? q.visibility : input.VisibilityTimeout;
  if (!Number.isInteger(max) || max < 1 || max > 10) return sqsError(res, 400, "InvalidParameterValue", "MaxNumberOfMessages must be 1 to 10", rid);
  if (!Number.isInteger(wait) || wait < 0 || wait > 20) return sqsError(res, 400, "InvalidParameterValue", "WaitTimeSeconds must be 0 to 20", rid);
  if (!Number.isInteger(vis) || vis < 0 || vis > 43200) return sqsError(res, 400, "InvalidParameterValue", "VisibilityTimeout must be 0 to 43200", rid);
  if (s.cap > 0 && vis > s.cap) vis = s.cap;
  const first = takeVisible(s, q, max, vis);
  if (first.length || wait === 0) return jsonReply(res, 200, first.length ? { Messages: first } : {}, rid);
  // Long polling: hold the request until a message is visible or the wait ends.
  const deadline = Date.now() + wait * 1000;
  const w = { done: false };
  const finish = (msgs) => {
    if (w.done) return;
    w.done = true;
    s.waiters.delete(w);
    clearInterval(w.timer);
    jsonReply(res, 200, msgs.length ? { Messages: msgs } : {}, rid);
  };
  w.check = () => {
    if (w.done) return;
    const got = takeVisible(s, q, max, vis);
    if (got.length || Date.now() >= deadline) finish(got);
  };
  w.timer = setInterval(w.check, 50);
  res.on("close", () => {
    if (w.done) return;
    w.done = true; // the client hung up (a cancelled poll): nothing is taken
    s.waiters.delete(w);
    clearInterval(w.timer);
    s.counts.dropped_polls += 1;
    ctx.log({ route: NAME, what: "poll_dropped" });
  });
  s.waiters.add(w);
  return true;
}

function deleteOne(s, q, receipt) {
  const id = s.receipts.get(receipt);
  if (!id) return "ReceiptHandleIsInvalid";
  const i = q.messages.findIndex((m) => m.id === id);
  if (i >= 0) {
    q.messages.splice(i, 1);
    s.counts.deleted += 1;
  }
  return null;
}

module.exports = {
  name: NAME,
  handle(req, res, body, ctx) {
    // S3 event notifications: watch PutObject requests through the twin (not copies).
    const s = st(ctx);
    if (!s.notify.length || req.method !== "PUT" || req.headers["x-amz-copy-source"]) return false;
    const auth = /Credential=[^/]+\/[^/]+\/[^/]+\/s3\//.test(String(req.headers["authorization"] || ""));
    if (!auth) return false;
    const path = req.url.split("?")[0];
    const m = /^\/([^/]+)\/(.+)$/.exec(path);
    if (!m) return false;
    let key;
    try {
      key = decodeURIComponent(m[2]);
    } catch (e) {
      return false;
    }
    const bucket = m[1];
    const rule = s.notify.find((n) => n.bucket === bucket && key.startsWith(n.prefix));
    if (!rule) return false;
    res.on("finish", () => {
      if (res.statusCode !== 200) return;
      const q = findQueue(s, rule.queue);
      if (q) sendMessage(ctx, q, s3Event(ctx, bucket, key, md5(body), body.length));
    });
    return false;
  },
  signed(req, res, body, ctx, info) {
    if (info.service !== "sqs") return false;
    const s = st(ctx);
    if (!info.target.startsWith("AmazonSQS.")) return sqsError(res, 400, "UnknownOperationException", "unknown target " + info.target, info.rid);
    if (!String(req.headers["content-type"] || "").startsWith("application/x-amz-json-1.0"))
      return sqsError(res, 400, "InvalidParameterValue", "Content-Type must be application/x-amz-json-1.0", info.rid);
    let input;
    try {
      input = JSON.parse(body.toString("utf8") || "{}");
    } catch (e) {
      return sqsError(res, 400, "SerializationException", "body is not JSON", info.rid);
    }
    const op = info.target.slice("AmazonSQS.".length);
    if (s.counts[op] !== undefined) s.counts[op] += 1;
    ctx.log({ route: NAME, what: op });
    if (op === "ReceiveMessage") return receive(req, res, input, ctx, info.rid);
    const q = findQueue(s, input.QueueUrl);
    if (!q) return sqsError(res, 400, "QueueDoesNotExist", "The specified queue does not exist.", info.rid, "AWS.SimpleQueueService.NonExistentQueue");
    if ((op === "DeleteMessage" || op === "DeleteMessageBatch") && s.holdDeletes) {
      s.counts.held_deletes += 1;
      return true; // never answered
    }
    if (op === "DeleteMessage") {
      if (!input.ReceiptHandle) return sqsError(res, 400, "MissingParameter", "ReceiptHandle is required", info.rid);
      const bad = deleteOne(s, q, input.ReceiptHandle);
      if (bad) return sqsError(res, 400, bad, "The input receipt handle is invalid.", info.rid);
      return jsonReply(res, 200, {}, info.rid);
    }
    if (op === "DeleteMessageBatch") {
      const entries = Array.isArray(input.Entries) ? input.Entries : [];
      if (entries.length === 0) return sqsError(res, 400, "EmptyBatchRequest", "no entries", info.rid);
      if (entries.length > 10) return sqsError(res, 400, "TooManyEntriesInBatchRequest", "at most 10 entries", info.rid);
      const ok = [], failed = [];
      for (const e of entries) {
        const bad = deleteOne(s, q, e.ReceiptHandle);
        if (bad) failed.push({ Id: e.Id, Code: bad, Message: "The input receipt handle is invalid.", SenderFault: true });
        else ok.push({ Id: e.Id });
      }
      return jsonReply(res, 200, { Successful: ok, Failed: failed }, info.rid);
    }
    if (op === "ChangeMessageVisibility") {
      const id = s.receipts.get(input.ReceiptHandle);
      const m = q.messages.find((x) => x.id === id);
      if (!m) return sqsError(res, 400, "ReceiptHandleIsInvalid", "The input receipt handle is invalid.", info.rid);
      m.visibleAt = Date.now() + Number(input.VisibilityTimeout || 0) * 1000;
      wake(s);
      return jsonReply(res, 200, {}, info.rid);
    }
    return sqsError(res, 400, "UnsupportedOperation", "unsupported operation " + op, info.rid);
  },
  control(verb, args, ctx) {
    const s = st(ctx);
    if (verb === "create") return { url: createQueue(ctx, String(args.name || "q"), args.visibility).url };
    if (verb === "counts") return s.counts;
    if (verb === "hold_deletes") { s.holdDeletes = !!args.on; return { hold: s.holdDeletes }; }
    if (verb === "visibility_cap") { s.cap = Number(args.seconds || 0); return { cap: s.cap }; }
    if (verb === "notify") {
      s.notify.push({ bucket: String(args.bucket), prefix: String(args.prefix || ""), queue: String(args.queue) });
      return { ok: true };
    }
    const q = findQueue(s, args.queue);
    if (!q) return { error: "no such queue " + args.queue };
    if (verb === "send") return { id: sendMessage(ctx, q, args.body) };
    if (verb === "s3_event") return { id: sendMessage(ctx, q, s3Event(ctx, String(args.bucket), String(args.key), args.etag, args.size, args.event)) };
    if (verb === "test_event")
      return { id: sendMessage(ctx, q, JSON.stringify({ Service: "Amazon S3", Event: "s3:TestEvent", Time: new Date().toISOString(), Bucket: String(args.bucket), RequestId: "twin", HostId: "twin" })) };
    if (verb === "depth") {
      const now = Date.now();
      const visible = q.messages.filter((m) => m.visibleAt <= now).length;
      return { visible, in_flight: q.messages.length - visible, total: q.messages.length };
    }
    if (verb === "messages") {
      const now = Date.now();
      return q.messages.map((m) => ({ id: m.id, body: m.body, receive_count: m.receiveCount, visible: m.visibleAt <= now }));
    }
    return undefined;
  },
};
