#!/usr/bin/env node
// A fault-injecting HTTP proxy for BackupDR's tests: it sits between the engine and one local
// emulator (dynalite or s3rver) and, by seed and rate, answers in the ways AWS fails on a bad day.
// Test infrastructure only: never shipped in the module.
//
//   node fault-proxy.js --service dynamodb|s3 --host 127.0.0.1 --port P --upstream http://127.0.0.1:U
//
// Control, on the same port (no S3 bucket name can start with "__"):
//   POST /__fault/config  {"seed":1,"rate":0.2,"kinds":["throttle",...],"stallMs":3000}
//                         rate 0 (the default) passes everything through unchanged; "trace":true
//                         logs every request line to standard output (the proxy's log file)
//   GET  /__fault/stats   {"requests":n,"repeated":n,"faults":{"throttle":n,...},"forwarded":n}
//                         (repeated: requests identical to one seen before, i.e. the client's retries)
//   POST /__fault/reset   zeroes the statistics, forgets what requests were seen and drops the kill rule
//   POST /__fault/kill    {"pid":1234,"match":"PUT .*/_committed","nth":1,"when":"before"|"after"}
//                         SIGKILLs process pid at the nth request whose "METHOD /path?query x-amz-target body"
//                         (the body's first 128 bytes) matches the regex: before forwarding it, or after the service answered (the
//                         answer is then lost). GET /__fault/stats says "killed":true once it has fired.
//
// A request's fate depends only on the seed, the request itself (method, path, target, body) and
// how many times that same request was seen before, never on timing or on other requests: a
// failing seed fails the same way again, however the engine's threads interleave.
//
// Kinds (DynamoDB): throttle (400 ProvisionedThroughputExceededException), throttling (400
// ThrottlingException), error500 (500 InternalServerError), unprocessed (BatchWriteItem only: a
// part of the batch is written, the rest handed back as UnprocessedItems); (S3): slowdown (503
// SlowDown), error500 (500 InternalError); (both): reset (the connection is dropped, before or
// after the upstream saw the request), stall (the answer is held for stallMs), truncate (the
// response body is cut short after its headers promised it whole).
'use strict';

const http = require('http');
const crypto = require('crypto');

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) args[argv[i].replace(/^--/, '')] = argv[i + 1];
  for (const required of ['service', 'port', 'upstream']) {
    if (!args[required]) throw new Error(`--${required} is required`);
  }
  if (!['dynamodb', 's3'].includes(args.service)) throw new Error('--service must be dynamodb or s3');
  return args;
}

const args = parseArgs(process.argv.slice(2));
const upstream = new URL(args.upstream);
const KINDS = {
  dynamodb: ['throttle', 'throttling', 'error500', 'unprocessed', 'reset', 'stall', 'truncate'],
  s3: ['slowdown', 'error500', 'reset', 'stall', 'truncate'],
}[args.service];

let config = { seed: 0, rate: 0, kinds: KINDS, stallMs: 3000 };
let seen = new Map();
let stats = freshStats();
let kill = null;   // { pid, match: RegExp, nth, when, count }

function freshStats() {
  return { requests: 0, repeated: 0, forwarded: 0, killed: false, faults: Object.fromEntries(KINDS.map((k) => [k, 0])) };
}

// The kill rule: true when this request is the one at which the client dies.
function killsAt(req, target, body) {
  if (!kill || stats.killed) return false;
  if (!kill.match.test(`${req.method} ${req.url} ${target} ${body.subarray(0, 128).toString('latin1')}`)) return false;
  kill.count += 1;
  return kill.count === kill.nth;
}

function killClient(req) {
  stats.killed = true;
  try { process.kill(kill.pid, 'SIGKILL'); } catch (e) { process.stderr.write(`fault-proxy: kill ${kill.pid}: ${e.message}\n`); }
  req.socket.destroy();
}

// A number in [0, 1) from the seed and a string: the first 6 bytes of SHA-256.
function draw(...parts) {
  const digest = crypto.createHash('sha256').update(parts.join('\u0000')).digest();
  return digest.readUIntBE(0, 6) / 2 ** 48;
}

function traceLine(line) {
  if (process.env.FAULT_PROXY_TRACE_FILE) require('fs').appendFileSync(process.env.FAULT_PROXY_TRACE_FILE, line);
  else process.stdout.write(line);
}

function readBody(stream) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

function forward(req, body) {
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers };   // Host and the signature stay as the client signed them
    headers['content-length'] = String(body.length);
    delete headers['transfer-encoding'];
    delete headers.expect;   // the proxy already holds the whole body
    const up = http.request({
      host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers,
    }, async (res) => {
      try {
        resolve({ status: res.statusCode, headers: res.headers, body: await readBody(res) });
      } catch (e) { reject(e); }
    });
    up.on('error', reject);
    up.end(body);
  });
}

function send(res, status, headers, body) {
  const out = { ...headers };
  delete out['transfer-encoding'];
  // A HEAD answer's Content-Length is the object's, not this (empty) body's.
  if (res.req.method !== 'HEAD' || out['content-length'] === undefined) out['content-length'] = String(body.length);
  res.writeHead(status, out);
  res.end(body);
}

function dynamoError(res, status, type, message) {
  const body = Buffer.from(JSON.stringify({ __type: type, message }));
  send(res, status, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': crypto.randomUUID() }, body);
}

function s3Error(res, status, code, message) {
  const body = Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault</RequestId></Error>`);
  send(res, status, { 'content-type': 'application/xml', 'x-amz-request-id': 'fault' }, body);
}

function crc32(buffer) {
  let crc = ~0;
  for (const byte of buffer) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xEDB88320 & -(crc & 1));
  }
  return (~crc) >>> 0;
}

// BatchWriteItem with part of every table's requests: the rest comes back as UnprocessedItems.
async function partialBatchWrite(req, body, res, key) {
  const request = JSON.parse(body.toString('utf8'));
  const kept = {};
  const withheld = {};
  for (const [table, writes] of Object.entries(request.RequestItems || {})) {
    const keep = Math.floor(draw(config.seed, key, 'keep', table) * writes.length);   // 0 .. n-1
    if (keep > 0) kept[table] = writes.slice(0, keep);
    withheld[table] = writes.slice(keep);
  }
  let upstreamBody = { UnprocessedItems: {} };
  let headers = { 'content-type': 'application/x-amz-json-1.0' };
  if (Object.keys(kept).length > 0) {
    const partial = Buffer.from(JSON.stringify({ ...request, RequestItems: kept }));
    const answer = await forward(req, partial);
    stats.forwarded++;
    if (answer.status !== 200) return send(res, answer.status, answer.headers, answer.body);
    upstreamBody = JSON.parse(answer.body.toString('utf8'));
    headers = answer.headers;
  }
  const unprocessed = upstreamBody.UnprocessedItems || {};
  for (const [table, writes] of Object.entries(withheld)) unprocessed[table] = (unprocessed[table] || []).concat(writes);
  const out = Buffer.from(JSON.stringify({ ...upstreamBody, UnprocessedItems: unprocessed }));
  const outHeaders = { ...headers };
  delete outHeaders['x-amz-crc32'];
  outHeaders['x-amz-crc32'] = String(crc32(out));
  send(res, 200, outHeaders, out);
}

async function handle(req, res) {
  if (req.url.startsWith('/__fault/')) return control(req, res);
  const body = await readBody(req);
  stats.requests++;
  const target = req.headers['x-amz-target'] || '';
  const identity = crypto.createHash('sha256').update(`${req.method} ${req.url} ${target}\u0000`).update(body).digest('hex');
  const occurrence = (seen.get(identity) || 0) + 1;
  seen.set(identity, occurrence);
  if (occurrence > 1) stats.repeated++;   // the client sent the same request again: a retry
  const key = `${identity}#${occurrence}`;
  if (config.trace) traceLine(`${args.service} ${req.method} ${req.url} ${target} #${occurrence}\n`);

  if (killsAt(req, target, body)) {
    if (kill.when === 'after') {
      await forward(req, body);
      stats.forwarded++;
    }
    return killClient(req);
  }

  let kinds = config.kinds.filter((k) => KINDS.includes(k));
  if (!target.endsWith('.BatchWriteItem')) kinds = kinds.filter((k) => k !== 'unprocessed');
  const faulty = kinds.length > 0 && draw(config.seed, key, 'rate') < config.rate;
  if (!faulty) {
    const answer = await forward(req, body);
    stats.forwarded++;
    if (config.trace && answer.status >= 400) traceLine(`  -> ${answer.status} ${answer.body.subarray(0, 300).toString('utf8').replace(/\s+/g, ' ')}\n`);
    return send(res, answer.status, answer.headers, answer.body);
  }
  const kind = kinds[Math.floor(draw(config.seed, key, 'kind') * kinds.length)];
  stats.faults[kind]++;
  if (config.trace) traceLine(`  -> fault ${kind}\n`);
  switch (kind) {
    case 'throttle':
      return dynamoError(res, 400, 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
        'The level of configured provisioned throughput for the table was exceeded. (injected)');
    case 'throttling':
      return dynamoError(res, 400, 'com.amazon.coral.availability#ThrottlingException', 'Rate exceeded (injected)');
    case 'error500':
      return args.service === 'dynamodb'
        ? dynamoError(res, 500, 'com.amazonaws.dynamodb.v20120810#InternalServerError', 'Internal server error (injected)')
        : s3Error(res, 500, 'InternalError', 'We encountered an internal error. Please try again. (injected)');
    case 'slowdown':
      return s3Error(res, 503, 'SlowDown', 'Please reduce your request rate. (injected)');
    case 'unprocessed':
      return partialBatchWrite(req, body, res, key);
    case 'reset': {
      if (draw(config.seed, key, 'after') < 0.5) {
        await forward(req, body);   // the service did the work; the client never hears of it
        stats.forwarded++;
      }
      return req.socket.destroy();
    }
    case 'stall': {
      const answer = await forward(req, body);
      stats.forwarded++;
      await new Promise((r) => setTimeout(r, config.stallMs));
      if (res.destroyed || req.socket.destroyed) return undefined;
      return send(res, answer.status, answer.headers, answer.body);
    }
    case 'truncate': {
      const answer = await forward(req, body);
      stats.forwarded++;
      if (answer.body.length < 2) return req.socket.destroy();
      const headers = { ...answer.headers };
      delete headers['transfer-encoding'];
      headers['content-length'] = String(answer.body.length);
      res.writeHead(answer.status, headers);
      res.write(answer.body.subarray(0, Math.floor(answer.body.length / 2)));
      return setTimeout(() => req.socket.destroy(), 10);
    }
    default:
      throw new Error(`unknown fault kind ${kind}`);
  }
}

async function control(req, res) {
  const json = (status, value) => send(res, status, { 'content-type': 'application/json' }, Buffer.from(JSON.stringify(value)));
  if (req.method === 'GET' && req.url === '/__fault/stats') return json(200, stats);
  if (req.method === 'POST' && req.url === '/__fault/reset') {
    stats = freshStats();
    seen = new Map();
    kill = null;
    return json(200, stats);
  }
  if (req.method === 'POST' && req.url === '/__fault/kill') {
    const rule = JSON.parse((await readBody(req)).toString('utf8') || '{}');
    if (!(rule.pid > 0) || typeof rule.match !== 'string' || !(rule.nth >= 1) || !['before', 'after'].includes(rule.when || 'before')) {
      return json(400, { error: 'a kill rule needs pid > 0, match (a regex), nth >= 1 and when before|after' });
    }
    kill = { pid: rule.pid, match: new RegExp(rule.match), nth: rule.nth, when: rule.when || 'before', count: 0 };
    stats.killed = false;
    return json(200, { ...rule, when: kill.when });
  }
  if (req.method === 'POST' && req.url === '/__fault/config') {
    const next = { ...config, ...JSON.parse((await readBody(req)).toString('utf8') || '{}') };
    const unknown = (next.kinds || []).filter((k) => !KINDS.includes(k));
    if (unknown.length > 0 || !(next.rate >= 0 && next.rate <= 1)) {
      return json(400, { error: `rate must be 0..1 and kinds among ${KINDS.join(', ')}; unknown: ${unknown.join(', ')}` });
    }
    config = next;
    return json(200, config);
  }
  return json(404, { error: 'unknown control request' });
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((e) => {
    process.stderr.write(`fault-proxy: ${e && e.stack}\n`);
    if (!res.headersSent) send(res, 502, { 'content-type': 'text/plain' }, Buffer.from(String(e)));
    else req.socket.destroy();
  });
});
server.keepAliveTimeout = 60000;
server.listen(Number(args.port), args.host || '127.0.0.1', () => {
  process.stdout.write(`fault-proxy (${args.service}) on ${args.host || '127.0.0.1'}:${args.port} -> ${upstream.href}\n`);
});
