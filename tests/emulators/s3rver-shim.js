'use strict';
// s3rver 3.7.1 with the three fixes AWS SDK v4 needs (see ../../docs/testing.md):
//  1. aws-chunked request bodies (the SDK's default) are decoded; s3rver would store the framing.
//  2. %2F in x-amz-copy-source is un-escaped; s3rver's decodeURI keeps it and answers NoSuchBucket.
//  3. If-None-Match: * on an object write answers 412 when the key exists (best effort, not atomic).
// and the two multipart operations s3rver lacks, over its own upload folders:
//  4. ListMultipartUploads (GET /bucket?uploads&prefix=), 5. AbortMultipartUpload (DELETE /bucket/key?uploadId=);
//  6. UploadPart / CompleteMultipartUpload of an upload that is gone (completed, aborted, never started)
//     answer 404 NoSuchUpload, as S3 does; s3rver answers 500 InternalError, which a client retries forever.
//     A completion retried after its lost answer is the case that matters (tests/emulators/fault-proxy.js).
// Usage: node --openssl-legacy-provider s3rver-shim.js <dir> <port> [address]
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

function sdkV4Compat() {
  return async (ctx, next) => {
    const headers = ctx.req.headers;
    const match = /^\/([^/]+)\/(.+)$/.exec(ctx.path);   // path-style addressing only
    const bucket = match && match[1];
    const key = match && decodeURIComponent(match[2]);
    const bucketOnly = /^\/([^/]+)\/?$/.exec(ctx.path);
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
  };
}

const [, , directory = './s3data', port = '49133', address = '127.0.0.1'] = process.argv;
const server = new S3rver({
  directory, port: Number(port), address,
  silent: process.env.S3RVER_VERBOSE !== '1',
  allowMismatchedSignatures: true,
});
server.middleware.unshift(sdkV4Compat());
server.run().then(({ address: a, port: p }) => console.log(`s3rver-shim listening on ${a}:${p}`));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close().then(() => process.exit(0)));
