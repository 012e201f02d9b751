// sigv4_smithy.js - signs the benchmark's request with @smithy/signature-v4 (the AWS SDK for
// JavaScript v3 signer) and prints "ns_per_sig=<n>" on stdout, for bench_sigv4.c to compare.
// The request is the one bench_sigv4.c signs: POST / with x-amz-target, content-type and a
// 200-byte body, service "rekognition". Needs NODE_PATH pointing at a node_modules holding
// @smithy/signature-v4 and @aws-crypto/sha256-js (tests/sigv4-diff/package.json).
"use strict";
const { SignatureV4 } = require("@smithy/signature-v4");
const { Sha256 } = require("@aws-crypto/sha256-js");

async function main() {
  const body = Buffer.from("{" + "\"k\":\"" + "v".repeat(192) + "\"}");
  const signer = new SignatureV4({
    credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" },
    region: "us-east-1",
    service: "rekognition",
    sha256: Sha256,
  });
  const req = () => ({
    method: "POST",
    protocol: "https:",
    hostname: "rekognition.us-east-1.amazonaws.com",
    path: "/",
    query: {},
    headers: {
      host: "rekognition.us-east-1.amazonaws.com",
      "x-amz-target": "RekognitionService.DetectCustomLabels",
      "content-type": "application/x-amz-json-1.1",
      "content-length": String(body.length),
    },
    body,
  });
  const when = new Date(Date.UTC(2015, 7, 30, 12, 36, 0));
  for (let i = 0; i < 2000; i++) await signer.sign(req(), { signingDate: when }); // warm-up
  const n = Number(process.argv[2] || 20000);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await signer.sign(req(), { signingDate: when });
  const ns = Number(process.hrtime.bigint() - t0) / n;
  process.stdout.write(`ns_per_sig=${ns.toFixed(1)}\n`);
}

main().catch((e) => {
  console.error(String(e));
  process.exit(1);
});
