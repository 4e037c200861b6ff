#!/usr/bin/env node
// A local endpoint for the AWS APIs nothing installable emulates: CloudWatch PutMetricData (query
// protocol, 2010-08-01). It checks every request's SigV4 signature against the test credentials,
// answers with the service's own error codes, and lets tests read back what arrived.
// Test infrastructure only: never shipped in the module.
//
//   node aws-local.js --port P [--host 127.0.0.1] [--credentials ACCESS_KEY:SECRET,...]
//
// Inspection (no signature): GET /__local/metrics  -> [{namespace, name, value, unit, dimensions, timestamp}]
//                            POST /__local/reset   -> forgets everything
'use strict';

const http = require('http');
const crypto = require('crypto');

function parseArgs(argv) {
  const args = { host: '127.0.0.1', credentials: 'S3RVER:S3RVER' };
  for (let i = 0; i < argv.length; i += 2) args[argv[i].replace(/^--/, '')] = argv[i + 1];
  if (!args.port) throw new Error('--port is required');
  return args;
}

const args = parseArgs(process.argv.slice(2));
const secrets = new Map(args.credentials.split(',').map((pair) => pair.split(':')));
let metrics = [];

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

// ---- SigV4 verification (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html)

function sha256(data) { return crypto.createHash('sha256').update(data).digest('hex'); }
function hmac(key, data) { return crypto.createHmac('sha256', key).update(data).digest(); }
function rfc3986(s) { return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase()); }

function canonicalQuery(search) {
  const pairs = [];
  for (const [k, v] of new URLSearchParams(search)) pairs.push([rfc3986(k), rfc3986(v)]);
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

function canonicalPath(pathname) {
  // AWS services other than S3 encode each segment twice in the canonical request.
  return pathname.split('/').map((seg) => rfc3986(rfc3986(decodeURIComponent(seg)))).join('/') || '/';
}

// Returns null when the signature is valid, else [status, code, message].
function verify(req, body) {
  const auth = req.headers.authorization || '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return [403, 'MissingAuthenticationToken', 'Request is missing Authentication Token'];
  const [, accessKey, date, region, service, signedHeaders, signature] = m;
  const secret = secrets.get(accessKey);
  if (secret === undefined) return [403, 'InvalidClientTokenId', 'The security token included in the request is invalid.'];
  const amzDate = req.headers['x-amz-date'];
  if (!amzDate || !amzDate.startsWith(date)) return [403, 'IncompleteSignature', 'X-Amz-Date is missing or does not match the credential scope.'];
  const url = new URL(req.url, 'http://local');
  const headerLines = signedHeaders.split(';').map((h) => `${h}:${String(req.headers[h] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const payloadHash = req.headers['x-amz-content-sha256'] || sha256(body);
  if (payloadHash !== 'UNSIGNED-PAYLOAD' && payloadHash !== sha256(body)) {
    return [400, 'XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.'];
  }
  const canonical = [req.method, canonicalPath(url.pathname), canonicalQuery(url.search), headerLines, signedHeaders, payloadHash].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac('AWS4' + secret, date), region), service), 'aws4_request');
  const expected = crypto.createHmac('sha256', key).update(toSign).digest('hex');
  if (expected !== signature) return [403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.'];
  req.signedFor = { accessKey, region, service };
  return null;
}

// ---- responses

function send(res, status, contentType, body) {
  const bytes = Buffer.from(body);
  res.writeHead(status, { 'content-type': contentType, 'content-length': String(bytes.length), 'x-amzn-requestid': crypto.randomUUID() });
  res.end(bytes);
}

function queryError(res, status, code, message) {
  send(res, status, 'text/xml', `<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><Error><Type>${status >= 500 ? 'Receiver' : 'Sender'}</Type>` +
    `<Code>${code}</Code><Message>${message.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</Message></Error><RequestId>${crypto.randomUUID()}</RequestId></ErrorResponse>`);
}

// ---- CloudWatch PutMetricData

const UNITS = new Set(['Seconds', 'Microseconds', 'Milliseconds', 'Bytes', 'Kilobytes', 'Megabytes', 'Gigabytes', 'Terabytes', 'Bits',
  'Kilobits', 'Megabits', 'Gigabits', 'Terabits', 'Percent', 'Count', 'Bytes/Second', 'Kilobytes/Second', 'Megabytes/Second',
  'Gigabytes/Second', 'Terabytes/Second', 'Bits/Second', 'Kilobits/Second', 'Megabits/Second', 'Gigabits/Second', 'Terabits/Second',
  'Count/Second', 'None']);

function cloudWatch(req, res, form) {
  const action = form.get('Action');
  if (action !== 'PutMetricData') return queryError(res, 400, 'InvalidAction', `The action ${action} is not valid for this web service.`);
  if (form.get('Version') !== '2010-08-01') return queryError(res, 400, 'InvalidParameterValue', 'Version must be 2010-08-01.');
  const namespace = form.get('Namespace');
  if (!namespace) return queryError(res, 400, 'MissingParameter', 'The parameter Namespace is required.');
  if (namespace.startsWith('AWS/')) return queryError(res, 400, 'InvalidParameterValue', 'The value AWS/ for parameter Namespace is invalid.');
  const data = [];
  for (let i = 1; form.has(`MetricData.member.${i}.MetricName`); i++) {
    const p = `MetricData.member.${i}.`;
    const value = Number(form.get(p + 'Value'));
    const unit = form.get(p + 'Unit') || 'None';
    if (!Number.isFinite(value)) return queryError(res, 400, 'InvalidParameterValue', `The value for parameter MetricData.member.${i}.Value is not a finite number.`);
    if (!UNITS.has(unit)) return queryError(res, 400, 'InvalidParameterValue', `The value ${unit} for parameter MetricData.member.${i}.Unit is invalid.`);
    const dimensions = {};
    for (let d = 1; form.has(`${p}Dimensions.member.${d}.Name`); d++) {
      dimensions[form.get(`${p}Dimensions.member.${d}.Name`)] = form.get(`${p}Dimensions.member.${d}.Value`);
    }
    if (Object.keys(dimensions).length > 30) return queryError(res, 400, 'InvalidParameterValue', 'A metric may have at most 30 dimensions.');
    data.push({ namespace, name: form.get(p + 'MetricName'), value, unit, dimensions, timestamp: form.get(p + 'Timestamp'), region: req.signedFor.region });
  }
  if (data.length === 0) return queryError(res, 400, 'MissingParameter', 'The parameter MetricData is required.');
  if (data.length > 1000) return queryError(res, 400, 'InvalidParameterValue', 'The collection MetricData must not have a size greater than 1000.');
  metrics.push(...data);
  send(res, 200, 'text/xml', `<PutMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><ResponseMetadata><RequestId>${crypto.randomUUID()}</RequestId></ResponseMetadata></PutMetricDataResponse>`);
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://local');
  if (url.pathname === '/__local/metrics' && req.method === 'GET') return send(res, 200, 'application/json', JSON.stringify(metrics));
  if (url.pathname === '/__local/reset' && req.method === 'POST') {
    metrics = [];
    return send(res, 200, 'application/json', '{}');
  }
  const body = await readBody(req);
  const refused = verify(req, body);
  if (refused) return queryError(res, ...refused);
  if (req.signedFor.service === 'monitoring') return cloudWatch(req, res, new URLSearchParams(body.toString('utf8')));
  return queryError(res, 400, 'UnknownService', `Nothing here answers for service '${req.signedFor.service}'.`);
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((e) => {
    process.stderr.write(`aws-local: ${e && e.stack}\n`);
    if (!res.headersSent) queryError(res, 500, 'InternalFailure', String(e));
  });
});
server.listen(Number(args.port), args.host, () => process.stdout.write(`aws-local on ${args.host}:${args.port}\n`));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
