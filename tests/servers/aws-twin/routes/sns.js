// sns.js - aws-twin route module: a signed SNS Publish (query protocol, Version 2010-03-31).
//
// Serves signed requests whose credential scope names `sns`: POST / with a form body
// Action=Publish&Version=2010-03-31&TopicArn=..&Subject=..&Message=.. . Checks like SNS: a
// TopicArn that is an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>), a Message present
// and at most 262,144 bytes, a Subject (when given) non-empty, fewer than 100 characters and
// without control characters; a refusal is 400 InvalidParameter as query XML <ErrorResponse>.
// Success answers <PublishResponse> with a new MessageId and records the message.
//
// Control (POST /__control/sns/<verb>):
//   messages {}            -> [{MessageId, TopicArn, Subject, Message}] in order of arrival
//   throttle {count}       -> the next `count` publishes answer 429 Throttled (query XML)
//   clear {}               -> forgets the recorded messages
"use strict";

const NAME = "sns";

function st(ctx) {
  if (!ctx.state[NAME]) ctx.state[NAME] = { messages: [], seq: 0, throttle: 0 };
  return ctx.state[NAME];
}

function xmlEscape(v) {
  return String(v).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function xmlReply(res, status, body, rid) {
  res.writeHead(status, { "Content-Type": "text/xml", "Content-Length": Buffer.byteLength(body), "x-amzn-RequestId": rid });
  res.end(body);
}

function xmlError(res, status, code, message, rid) {
  const type = status >= 500 ? "Receiver" : "Sender";
  xmlReply(res, status, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>${type}</Type><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error><RequestId>${rid}</RequestId></ErrorResponse>`, rid);
  return true;
}

module.exports = {
  name: NAME,
  handle() { return false; },
  signed(req, res, body, ctx, info) {
    if (info.service !== "sns") return false;
    const s = st(ctx);
    const form = new URLSearchParams(body.toString("utf8"));
    const action = form.get("Action");
    if (req.method !== "POST" || action !== "Publish") return xmlError(res, 400, "InvalidAction", "unknown action " + action, info.rid);
    if (form.get("Version") !== "2010-03-31") return xmlError(res, 400, "InvalidParameter", "bad Version", info.rid);
    if (s.throttle > 0) {
      s.throttle -= 1;
      return xmlError(res, 429, "Throttled", "Rate exceeded", info.rid);
    }
    const arn = form.get("TopicArn");
    const subject = form.get("Subject");
    const message = form.get("Message");
    if (!arn || !/^arn:aws:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/.test(arn))
      return xmlError(res, 400, "InvalidParameter", "Invalid parameter: TopicArn", info.rid);
    if (message === null || message.length === 0)
      return xmlError(res, 400, "InvalidParameter", "Invalid parameter: Empty message", info.rid);
    if (Buffer.byteLength(message, "utf8") > 262144)
      return xmlError(res, 400, "InvalidParameter", "Invalid parameter: Message too long", info.rid);
    if (subject !== null) {
      if (subject.length === 0 || [...subject].length >= 100)
        return xmlError(res, 400, "InvalidParameter", "Invalid parameter: Subject", info.rid);
      if (/[\u0000-\u001f\u007f-\u009f]/.test(subject))
        return xmlError(res, 400, "InvalidParameter", "Invalid parameter: Subject", info.rid);
    }
    s.seq += 1;
    const id = `00000000-0000-4000-8000-${String(s.seq).padStart(12, "0")}`;
    s.messages.push({ MessageId: id, TopicArn: arn, Subject: subject, Message: message });
    ctx.log({ route: NAME, what: "publish", message_id: id });
    xmlReply(res, 200, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>${id}</MessageId></PublishResult><ResponseMetadata><RequestId>${info.rid}</RequestId></ResponseMetadata></PublishResponse>`, info.rid);
    return true;
  },
  control(verb, args, ctx) {
    const s = st(ctx);
    if (verb === "messages") return s.messages;
    if (verb === "throttle") { s.throttle = Number(args.count || 1); return { throttle: s.throttle }; }
    if (verb === "clear") { s.messages = []; return { ok: true }; }
    return undefined;
  },
};
