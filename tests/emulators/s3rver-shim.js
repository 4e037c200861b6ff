'use strict';
// s3rver 3.7.1 with the three fixes AWS SDK v4 needs (see ../../docs/testing.md):
//  1. aws-chunked request bodies (the SDK's default) are decoded; s3rver would store the framing.
//  2. %2F in x-amz-copy-source is un-escaped; s3rver's decodeURI keeps it and answers NoSuchBucket.
//  3. If-None-Match: * on an object write answers 412 when the key exists (best effort, not atomic).
// and the two multipart operations s3rver lacks, over its own upload folders:
//  4. ListMultipartUploads (GET /bucket?uploads&prefix=), 5. AbortMultipartUpload (DELETE /bucket/key?uploadId=);
//  6. UploadPart / CompleteMultipartUpload of an upload that is gone (completed, aborted, never started)
//     answer 404 NoSuchUpload, as S3 does; s3rver answers 500 InternalError, which a client retries forever.
//     A completion retried after its lost answer is the case that matters (tests/emulators/fault-proxy.js);
// and S3 event notifications to Lambda, delivered through aws-local.js (the 4th argument, its URL):
//  7. Put/GetBucketNotificationConfiguration (Lambda configurations with prefix/suffix filters); like S3,
//     a put is refused unless each function's policy lets s3.amazonaws.com invoke it for the bucket;
//  8. after each object created (PutObject, CompleteMultipartUpload, CopyObject), the S3 event goes to
//     every matching function;
//  9. <EventBridgeConfiguration/> in the notification configuration: every object created is also sent to
//     the default event bus as an "Object Created" event (aws-local.js matches it against rules' patterns).
// Usage: node --openssl-legacy-provider s3rver-shim.js <dir> <port> [address] [aws-local URL]
const S3rver = require('s3rver');
const { Transform } = require('stream');
const fs = require('fs');
const path = require('path');

function xmlEscape(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// s3rver keeps an upload in <directory>/<bucket>/._S3rver_uploads/<uploadId>/ with a 'key' file.
function uploadsFolder(bucket) {
  return path.join(directory, bucket, '._S3rver_uploads');
}

function listUploads(ctx, bucket) {
  const prefix = ctx.query.prefix || '';
  const folder = uploadsFolder(bucket);
  const uploads = [];
  for (const id of fs.existsSync(folder) ? fs.readdirSync(folder) : []) {
    const keyFile = path.join(folder, id, 'key');
    if (!fs.existsSync(keyFile)) continue;
    const key = fs.readFileSync(keyFile, 'utf8');
    if (key.startsWith(prefix)) uploads.push({ id, key, initiated: fs.statSync(keyFile).mtime.toISOString() });
  }
  uploads.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  ctx.status = 200;
  ctx.type = 'application/xml';
  ctx.body = '<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    `<Bucket>${xmlEscape(bucket)}</Bucket><Prefix>${xmlEscape(prefix)}</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>` +
    uploads.map((u) => `<Upload><Key>${xmlEscape(u.key)}</Key><UploadId>${u.id}</UploadId><Initiated>${u.initiated}</Initiated>` +
      '<StorageClass>STANDARD</StorageClass></Upload>').join('') +
    '</ListMultipartUploadsResult>';
}

function uploadExists(bucket, key, uploadId) {
  const id = String(uploadId);
  const keyFile = path.join(uploadsFolder(bucket), path.basename(id), 'key');
  return /^[0-9a-f]+$/.test(id) && fs.existsSync(keyFile) && fs.readFileSync(keyFile, 'utf8') === key;
}

// ---- event notifications (7, 8)
const notifications = new Map();   // bucket -> [{id, functionArn, events, prefix, suffix}]
const eventBridge = new Set();     // buckets whose events also go to EventBridge

function xmlValues(xml, tag) {
  return [...xml.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => m[1].trim());
}

function parseNotification(xml) {
  const configs = [];
  for (const tag of ['CloudFunctionConfiguration', 'LambdaFunctionConfiguration']) {
    for (const block of xmlValues(xml, tag)) {
      const rules = xmlValues(block, 'FilterRule').map((r) => ({ name: (xmlValues(r, 'Name')[0] || '').toLowerCase(), value: xmlValues(r, 'Value')[0] || '' }));
      configs.push({
        id: xmlValues(block, 'Id')[0] || '',
        functionArn: xmlValues(block, 'CloudFunction')[0] || xmlValues(block, 'LambdaFunctionArn')[0],
        events: xmlValues(block, 'Event'),
        prefix: (rules.find((r) => r.name === 'prefix') || {}).value || '',
        suffix: (rules.find((r) => r.name === 'suffix') || {}).value || '',
      });
    }
  }
  return configs;
}

function notificationXml(configs, toEventBridge) {
  const esc = (t) => xmlEscape(t);
  return '<?xml version="1.0" encoding="UTF-8"?>\n<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    configs.map((c) => `<CloudFunctionConfiguration><Id>${esc(c.id)}</Id><CloudFunction>${esc(c.functionArn)}</CloudFunction>` +
      c.events.map((e) => `<Event>${esc(e)}</Event>`).join('') +
      `<Filter><S3Key><FilterRule><Name>prefix</Name><Value>${esc(c.prefix)}</Value></FilterRule><FilterRule><Name>suffix</Name><Value>${esc(c.suffix)}</Value></FilterRule></S3Key></Filter>` +
      '</CloudFunctionConfiguration>').join('') + (toEventBridge ? '<EventBridgeConfiguration></EventBridgeConfiguration>' : '') + '</NotificationConfiguration>';
}

async function readAll(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

async function putNotification(ctx, bucket) {
  const xml = await readAll(ctx.req);
  const configs = parseNotification(xml);
  for (const c of configs) {
    const allowed = awsLocal && (await (await fetch(`${awsLocal}/__local/can-invoke?principal=s3.amazonaws.com&source=${encodeURIComponent(`arn:aws:s3:::${bucket}`)}&function=${encodeURIComponent(c.functionArn)}`)).json()).allowed;
    if (!allowed) {
      ctx.status = 400;
      ctx.type = 'application/xml';
      ctx.body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidArgument</Code><Message>Unable to validate the following destination configurations</Message>' +
        `<ArgumentName1>${xmlEscape(c.functionArn)}, null</ArgumentName1><ArgumentValue1>Not authorized to invoke function [${xmlEscape(c.functionArn)}]</ArgumentValue1></Error>`;
      return;
    }
  }
  notifications.set(bucket, configs);
  if (/<EventBridgeConfiguration\s*\/?>/.test(xml)) eventBridge.add(bucket); else eventBridge.delete(bucket);
  ctx.status = 200;
  ctx.body = '';
}

function matchesEvent(patterns, eventName) {
  return patterns.some((p) => p === `s3:${eventName}` || (p.endsWith(':*') && `s3:${eventName}`.startsWith(p.slice(0, -1))));
}

async function notify(bucket, key, eventName, size, etag) {
  if (eventBridge.has(bucket)) {
    // S3's event on the default bus (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html).
    const event = {
      version: '0', id: require('crypto').randomUUID(), 'detail-type': 'Object Created', source: 'aws.s3', account: '000000000000',
      time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'), region: 'us-east-1', resources: [`arn:aws:s3:::${bucket}`],
      detail: {
        version: '0', bucket: { name: bucket }, object: { key, size, etag, sequencer: Date.now().toString(16).toUpperCase() },
        'request-id': require('crypto').randomUUID().slice(0, 16).toUpperCase(), requester: '000000000000', 'source-ip-address': '127.0.0.1',
        reason: { 'ObjectCreated:Put': 'PutObject', 'ObjectCreated:Copy': 'CopyObject' }[eventName] || 'CompleteMultipartUpload',
      },
    };
    try {
      await fetch(`${awsLocal}/__local/events/put`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ event }) });
    } catch (e) {
      process.stderr.write(`s3rver-shim: the EventBridge event for ${key} failed: ${e.message}\n`);
    }
  }
  for (const c of notifications.get(bucket) || []) {
    if (!matchesEvent(c.events, eventName) || !key.startsWith(c.prefix) || !key.endsWith(c.suffix)) continue;
    const event = {
      Records: [{
        eventVersion: '2.1', eventSource: 'aws:s3', awsRegion: 'us-east-1', eventTime: new Date().toISOString(), eventName,
        userIdentity: { principalId: 'AWS:LOCAL' }, requestParameters: { sourceIPAddress: '127.0.0.1' }, responseElements: {},
        s3: {
          s3SchemaVersion: '1.0', configurationId: c.id,
          bucket: { name: bucket, ownerIdentity: { principalId: 'LOCAL' }, arn: `arn:aws:s3:::${bucket}` },
          // S3 URL-encodes keys in events, with '+' for a space.
          object: { key: encodeURIComponent(key).replace(/%20/g, '+').replace(/%2F/g, '/'), size, eTag: etag, sequencer: Date.now().toString(16).toUpperCase() },
        },
      }],
    };
    try {
      await fetch(`${awsLocal}/__local/s3-notification`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ bucket, functionArn: c.functionArn, event }) });
    } catch (e) {
      process.stderr.write(`s3rver-shim: notification to ${c.functionArn} failed: ${e.message}\n`);
    }
  }
}

function s3Error(ctx, status, code, message) {
  ctx.status = status;
  ctx.type = 'application/xml';
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
  ctx.req.resume();
}

function noSuchUpload(ctx) {
  s3Error(ctx, 404, 'NoSuchUpload', 'The specified multipart upload does not exist.');
}

function abortUpload(ctx, bucket, key) {
  if (!uploadExists(bucket, key, ctx.query.uploadId)) return noSuchUpload(ctx);
  fs.rmSync(path.join(uploadsFolder(bucket), path.basename(String(ctx.query.uploadId))), { recursive: true, force: true });
  ctx.status = 204;
}

class ChunkDecoder extends Transform {
  constructor() {
    super();
    this.pending = Buffer.alloc(0);
    this.left = 0;          // payload bytes still to pass through in the current chunk
    this.crlf = false;      // a CRLF follows the payload just passed
    this.finished = false;  // the zero-length chunk was seen; trailers follow and are dropped
  }
  _transform(data, _enc, done) {
    this.pending = this.pending.length ? Buffer.concat([this.pending, data]) : data;
    try { this.decode(); done(); } catch (err) { done(err); }
  }
  decode() {
    while (!this.finished) {
      if (this.left > 0) {
        const n = Math.min(this.left, this.pending.length);
        if (n === 0) return;
        this.push(this.pending.subarray(0, n));
        this.pending = this.pending.subarray(n);
        this.left -= n;
        this.crlf = this.left === 0;
        continue;
      }
      if (this.crlf) {
        if (this.pending.length < 2) return;
        this.pending = this.pending.subarray(2);
        this.crlf = false;
        continue;
      }
      const eol = this.pending.indexOf('\r\n');
      if (eol < 0) return;
      const header = this.pending.subarray(0, eol).toString('latin1');
      this.pending = this.pending.subarray(eol + 2);
      const size = parseInt(header.split(';')[0], 16);
      if (Number.isNaN(size)) throw new Error('malformed aws-chunked header: ' + header);
      if (size === 0) this.finished = true; else this.left = size;
    }
    this.pending = Buffer.alloc(0);
  }
  _flush(done) { done(this.left > 0 ? new Error('aws-chunked body ended inside a chunk') : null); }
}

function preconditionFailed(ctx) {
  s3Error(ctx, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
}

// 9. Bucket ownership, as S3 checks it: every bucket here belongs to the local account, so a request whose
// x-amz-expected-bucket-owner names another account is refused (403 AccessDenied) before anything happens.
// Tests read, per bucket, how many requests carried the header and how many did not, and how many object
// writes asked for server-side encryption (s3rver stores objects as they come): GET /__shim/owner-headers?bucket=
const LOCAL_ACCOUNT = '000000000000';
const ownerHeaders = new Map();   // bucket -> { with, without }

function sdkV4Compat() {
  return async (ctx, next) => {
    const headers = ctx.req.headers;
    if (ctx.path === '/__shim/owner-headers') {
      ctx.status = 200;
      ctx.type = 'application/json';
      ctx.body = JSON.stringify(ownerHeaders.get(ctx.query.bucket) || { with: 0, without: 0, writes: 0, encryptedWrites: 0 });
      return undefined;
    }
    const match = /^\/([^/]+)\/(.+)$/.exec(ctx.path);   // path-style addressing only
    const bucket = match && match[1];
    const key = match && decodeURIComponent(match[2]);
    const bucketOnly = /^\/([^/]+)\/?$/.exec(ctx.path);
    const anyBucket = bucket || (bucketOnly && bucketOnly[1]);
    if (anyBucket) {
      const counts = ownerHeaders.get(anyBucket) || { with: 0, without: 0, writes: 0, encryptedWrites: 0 };
      if (headers['x-amz-expected-bucket-owner']) counts.with++; else counts.without++;
      // Object writes (PutObject, CreateMultipartUpload) and how many asked for server-side encryption.
      if (key && ((ctx.method === 'PUT' && !ctx.query.partNumber) || (ctx.method === 'POST' && ctx.query.uploads !== undefined))) {
        counts.writes++;
        if (headers['x-amz-server-side-encryption']) counts.encryptedWrites++;
      }
      ownerHeaders.set(anyBucket, counts);
      if (headers['x-amz-expected-bucket-owner'] && headers['x-amz-expected-bucket-owner'] !== LOCAL_ACCOUNT) {
        ctx.req.resume();
        return s3Error(ctx, 403, 'AccessDenied', 'Access Denied');
      }
    }
    if (bucketOnly && ctx.query.notification !== undefined) {
      if (ctx.method === 'PUT') return putNotification(ctx, bucketOnly[1]);
      if (ctx.method === 'GET') {
        ctx.status = 200;
        ctx.type = 'application/xml';
        ctx.body = notificationXml(notifications.get(bucketOnly[1]) || [], eventBridge.has(bucketOnly[1]));
        return undefined;
      }
    }
    if (ctx.method === 'GET' && bucketOnly && ctx.query.uploads !== undefined) return listUploads(ctx, bucketOnly[1]);
    if (ctx.method === 'DELETE' && key && ctx.query.uploadId !== undefined) return abortUpload(ctx, bucket, key);
    if (key && ctx.query.uploadId !== undefined && (ctx.method === 'POST' || ctx.method === 'PUT') && !uploadExists(bucket, key, ctx.query.uploadId)) {
      return noSuchUpload(ctx);
    }
    if (headers['x-amz-copy-source']) {
      headers['x-amz-copy-source'] = headers['x-amz-copy-source'].replace(/%2F/gi, '/');
    }
    const writesObject = key && (
      (ctx.method === 'PUT' && !ctx.query.partNumber && !headers['x-amz-copy-source']) ||
      (ctx.method === 'POST' && ctx.query.uploadId !== undefined));
    if (writesObject && headers['if-none-match'] === '*' && await ctx.store.existsObject(bucket, key)) {
      return preconditionFailed(ctx);
    }
    const encodings = (headers['content-encoding'] || '').split(',').map(s => s.trim()).filter(Boolean);
    if (encodings.includes('aws-chunked')) {
      const others = encodings.filter(e => e !== 'aws-chunked');
      if (others.length) headers['content-encoding'] = others.join(','); else delete headers['content-encoding'];
      if (headers['x-amz-decoded-content-length'] !== undefined) {
        headers['content-length'] = headers['x-amz-decoded-content-length'];
      }
      const decoded = ctx.req.pipe(new ChunkDecoder());
      decoded.headers = headers;
      ctx.req.on('error', err => decoded.destroy(err));
      ctx.req = decoded;
    }
    await next();
    // 8. an object was created: notify the functions configured for it.
    const created = key && ctx.status === 200 && ((ctx.method === 'PUT' && !ctx.query.partNumber)
      || (ctx.method === 'POST' && ctx.query.uploadId !== undefined));
    if (created && (notifications.has(bucket) || eventBridge.has(bucket))) {
      const eventName = ctx.method === 'POST' ? 'ObjectCreated:CompleteMultipartUpload' : headers['x-amz-copy-source'] ? 'ObjectCreated:Copy' : 'ObjectCreated:Put';
      // The request's own length: exact for PutObject (aws-chunked is decoded above), 0 for a completion.
      const size = ctx.method === 'PUT' ? Number(headers['content-length'] || 0) : 0;
      notify(bucket, key, eventName, size, (ctx.response.get('ETag') || '').replace(/"/g, ''));
    }
  };
}

const [, , directory = './s3data', port = '49133', address = '127.0.0.1', awsLocal = ''] = process.argv;
const server = new S3rver({
  directory, port: Number(port), address,
  silent: process.env.S3RVER_VERBOSE !== '1',
  allowMismatchedSignatures: true,
});
server.middleware.unshift(sdkV4Compat());
server.run().then(({ address: a, port: p }) => console.log(`s3rver-shim listening on ${a}:${p}`));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close().then(() => process.exit(0)));
