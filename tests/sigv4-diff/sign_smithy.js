// sign_smithy.js - signs requests with the AWS SDK's own signer (@smithy/signature-v4) for
// retraind's differential test (tests/integration/sigv4_diff_smithy.py).
//
// Input (file named by argv[2]): a JSON array of cases {method, host, path, query, headers,
// body_b64, s3, access_key, secret_key, session_token, region, service, time_ms}. query maps a
// decoded key to a string or an array of strings; headers maps a name to one (already joined)
// value. Output on stdout: a JSON array with the Authorization header of each case.
//
// S3 vs other services: the S3 client builds its signer with uriEscapePath=false (the path is
// signed as sent, no normalisation, no second encoding) and applyChecksum=true (the
// x-amz-content-sha256 header is added and signed); every other client uses the defaults
// uriEscapePath=true, applyChecksum=false. We do the same per case.
"use strict";
const fs = require("fs");
const { SignatureV4 } = require("@smithy/signature-v4");
const { Sha256 } = require("@aws-crypto/sha256-js");

async function main() {
  const cases = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const out = [];
  for (const c of cases) {
    const credentials = { accessKeyId: c.access_key, secretAccessKey: c.secret_key };
    if (c.session_token) credentials.sessionToken = c.session_token;
    const signer = new SignatureV4({
      credentials,
      region: c.region,
      service: c.service,
      sha256: Sha256,
      uriEscapePath: !c.s3,
      applyChecksum: !!c.s3,
    });
    const request = {
      method: c.method,
      protocol: "https:",
      hostname: c.host,
      path: c.path,
      query: c.query,
      headers: { ...c.headers },
      body: Buffer.from(c.body_b64, "base64"),
    };
    const signed = await signer.sign(request, { signingDate: new Date(c.time_ms) });
    out.push(signed.headers["authorization"]);
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
