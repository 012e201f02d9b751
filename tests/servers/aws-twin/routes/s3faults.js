// s3faults.js - S3 replies s3rver cannot make, for the s3 store driver's tests.
//
// POST /__control/s3faults/copy_error_200 {"count": n} arms n CopyObject answers "200 OK" whose
// body is an <Error> document (aws-wire.md 2.4: a copy that fails after the status line was
// sent; the client must treat it as a retryable 500). Each armed answer claims one request that
// carries x-amz-copy-source (before the signature check: it is a fault, like the twin's own),
// and is logged with route "s3faults". Nothing else is claimed.
module.exports = {
  name: "s3faults",
  handle(req, res, body, ctx) {
    const st = ctx.state.s3faults || (ctx.state.s3faults = { copy200: 0 });
    if (st.copy200 > 0 && req.method === "PUT" && req.headers["x-amz-copy-source"]) {
      st.copy200--;
      ctx.log({ route: "s3faults", method: req.method, url: req.url, fault: "copy_error_200" });
      const xml = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>' +
        "<Message>We encountered an internal error. Please try again.</Message>" +
        "<RequestId>s3faults</RequestId></Error>";
      res.writeHead(200, { "Content-Type": "application/xml", "x-amz-request-id": "s3faults" });
      res.end(xml);
      return true;
    }
    return false;
  },
  control(verb, args, ctx) {
    const st = ctx.state.s3faults || (ctx.state.s3faults = { copy200: 0 });
    if (verb === "copy_error_200") {
      st.copy200 = Number(args.count || 1);
      return { armed: st.copy200 };
    }
    return undefined;
  },
};
