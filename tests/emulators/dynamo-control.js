'use strict';
// DynamoDB's point-in-time recovery, export and import control plane, inside the dynalite process (dynalite
// has none): UpdateContinuousBackups, DescribeContinuousBackups, ExportTableToPointInTime (full and
// incremental, DYNAMODB_JSON), DescribeExport, ListExports, ImportTable (DYNAMODB_JSON, GZIP or NONE) and
// DescribeImport, with the request and response shapes,
// states and errors of the DynamoDB API reference (2012-08-10), writing exactly the layout the
// "DynamoDB table export output format" page describes into the local S3 emulator.
//
// Point in time: while a table's PITR is enabled, every write to it (PutItem, UpdateItem, DeleteItem,
// BatchWriteItem, TransactWriteItems) is logged with the item's image before and after. A full export
// at ExportTime is the table now with the later changes undone; an incremental export is the net change
// of each item written in (ExportFromTime, ExportToTime]. Tables without PITR pay nothing.
//
// Test infrastructure only: never shipped in the module.
const crypto = require('crypto');
const zlib = require('zlib');
const { Readable } = require('stream');

const CONTROL = new Set(['UpdateContinuousBackups', 'DescribeContinuousBackups', 'ExportTableToPointInTime', 'DescribeExport', 'ListExports', 'ImportTable', 'DescribeImport']);
const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);
const AUTH = 'AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=00';

function createControl({ handler, s3Endpoint, account = '000000000000', region = 'us-east-1', transitionMs = 300, minIncrementalMs = 15 * 60 * 1000, log = () => {} }) {
  const pitr = new Map();        // table -> { enabledAt (ms), days }
  const changes = new Map();     // table -> [{ at (µs), key, keys, before, after }]
  const exportsByArn = new Map();
  const importsByArn = new Map();
  const importTokens = new Map();   // ClientToken -> { arn, request (canonical) }
  const tokens = new Map();      // ClientToken -> export ARN
  let lastMicros = 0;

  // ---- dynalite, called in-process

  function call(target, body) {
    return new Promise((resolve) => {
      const req = new Readable({ read() {} });
      req.headers = { 'x-amz-target': `DynamoDB_20120810.${target}`, 'content-type': 'application/x-amz-json-1.0', authorization: AUTH, 'x-amz-date': '20260101T000000Z', host: 'local' };
      req.method = 'POST';
      req.url = '/';
      const res = {
        statusCode: 200, headers: {},
        setHeader(k, v) { this.headers[k.toLowerCase()] = v; },
        getHeader(k) { return this.headers[k.toLowerCase()]; },
        end(b) { resolve({ status: this.statusCode, body: b && b.length ? JSON.parse(b.toString()) : {} }); },
      };
      handler(req, res);
      req.push(Buffer.from(JSON.stringify(body)));
      req.push(null);
    });
  }

  const keySchemas = new Map();
  async function keyNames(table) {
    if (!keySchemas.has(table)) {
      const d = await call('DescribeTable', { TableName: table });
      if (d.status !== 200) return null;
      keySchemas.set(table, d.body.Table.KeySchema.map((k) => k.AttributeName));
    }
    return keySchemas.get(table);
  }

  async function describe(table) {
    const d = await call('DescribeTable', { TableName: table });
    return d.status === 200 ? d.body.Table : null;
  }

  function canonical(value) {
    if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
    if (value && typeof value === 'object') return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
    return JSON.stringify(value);
  }

  function pick(item, names) {
    const keys = {};
    for (const n of names) keys[n] = item[n];
    return keys;
  }

  async function image(table, keys) {
    const got = await call('GetItem', { TableName: table, Key: keys, ConsistentRead: true });
    return got.status === 200 && got.body.Item ? got.body.Item : null;
  }

  // ---- the change log

  async function touched(target, body) {
    const list = [];
    const add = async (table, itemOrKey) => {
      if (!pitr.has(table)) return;
      const names = await keyNames(table);
      if (names) list.push({ table, keys: pick(itemOrKey, names) });
    };
    if (target === 'PutItem') await add(body.TableName, body.Item || {});
    else if (target === 'UpdateItem' || target === 'DeleteItem') await add(body.TableName, body.Key || {});
    else if (target === 'BatchWriteItem') {
      for (const [table, requests] of Object.entries(body.RequestItems || {})) {
        for (const r of requests || []) await add(table, (r.PutRequest && r.PutRequest.Item) || (r.DeleteRequest && r.DeleteRequest.Key) || {});
      }
    } else if (target === 'TransactWriteItems') {
      for (const t of body.TransactItems || []) {
        if (t.Put) await add(t.Put.TableName, t.Put.Item || {});
        if (t.Update) await add(t.Update.TableName, t.Update.Key || {});
        if (t.Delete) await add(t.Delete.TableName, t.Delete.Key || {});
      }
    }
    return list;
  }

  async function logged(req, res, target, raw) {
    let body;
    try { body = JSON.parse(raw.toString('utf8') || '{}'); } catch { body = {}; }
    const list = await touched(target, body);
    for (const t of list) t.before = await image(t.table, t.keys);
    const forwarded = new Readable({ read() {} });
    forwarded.headers = req.headers;
    forwarded.method = req.method;
    forwarded.url = req.url;
    const end = res.end.bind(res);
    res.end = (b) => {
      const done = async () => {
        if (res.statusCode === 200) {
          for (const t of list) {
            const after = await image(t.table, t.keys);
            const stored = after || t.before;
            if (!stored) continue;   // a delete of nothing: no change
            // The key as the table holds it (numbers normalised), not as the request spelled it.
            const keys = pick(stored, await keyNames(t.table));
            const at = Math.max(Date.now() * 1000, lastMicros + 1);
            lastMicros = at;
            if (!changes.has(t.table)) changes.set(t.table, []);
            changes.get(t.table).push({ at, key: canonical(keys), keys, before: t.before, after });
          }
        }
      };
      done().then(() => end(b), (e) => { log(`change log: ${e.stack}`); end(b); });
    };
    handler(forwarded, res);
    forwarded.push(raw);
    forwarded.push(null);
  }

  // ---- responses

  function send(res, status, value) {
    const body = Buffer.from(JSON.stringify(value));
    res.statusCode = status;
    res.setHeader('Content-Type', 'application/x-amz-json-1.0');
    res.setHeader('Content-Length', body.length);
    res.setHeader('x-amzn-RequestId', crypto.randomUUID());
    res.end(body);
  }

  class ApiError extends Error {
    constructor(type, message, status = 400) { super(message); this.type = type; this.status = status; }
  }
  const fail = (type, message) => { throw new ApiError(type, message); };

  const seconds = (ms) => ms / 1000;
  const tableOfArn = (arn) => {
    const m = /^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table\/([a-zA-Z0-9_.-]{3,255})$/.exec(arn || '');
    if (!m) fail('ValidationException', `Invalid TableArn: ${arn}`);
    return m[1];
  };
  const tableArn = (table) => `arn:aws:dynamodb:${region}:${account}:table/${table}`;

  // ---- point-in-time recovery

  function continuousBackups(table) {
    const p = pitr.get(table);
    const now = Date.now();
    return {
      ContinuousBackupsStatus: 'ENABLED',
      PointInTimeRecoveryDescription: p
        ? { PointInTimeRecoveryStatus: 'ENABLED', RecoveryPeriodInDays: p.days, EarliestRestorableDateTime: seconds(p.enabledAt), LatestRestorableDateTime: seconds(now - 1000) }
        : { PointInTimeRecoveryStatus: 'DISABLED' },
    };
  }

  async function updateContinuousBackups(body) {
    const table = body.TableName;
    if (!table || !(await describe(table))) fail('TableNotFoundException', `Table not found: ${table}`);
    const spec = body.PointInTimeRecoverySpecification;
    if (!spec || typeof spec.PointInTimeRecoveryEnabled !== 'boolean') fail('ValidationException', '1 validation error detected: Value null at \'pointInTimeRecoverySpecification.pointInTimeRecoveryEnabled\' failed to satisfy constraint: Member must not be null');
    const days = spec.RecoveryPeriodInDays === undefined ? 35 : spec.RecoveryPeriodInDays;
    if (!(Number.isInteger(days) && days >= 1 && days <= 35)) fail('ValidationException', 'RecoveryPeriodInDays must be between 1 and 35.');
    if (spec.PointInTimeRecoveryEnabled) {
      if (!pitr.has(table)) pitr.set(table, { enabledAt: Date.now(), days });
      else pitr.get(table).days = days;
    } else {
      pitr.delete(table);
      changes.delete(table);
    }
    return { ContinuousBackupsDescription: continuousBackups(table) };
  }

  async function describeContinuousBackups(body) {
    if (!body.TableName || !(await describe(body.TableName))) fail('TableNotFoundException', `Table not found: ${body.TableName}`);
    return { ContinuousBackupsDescription: continuousBackups(body.TableName) };
  }

  // ---- exports

  async function scanAll(table) {
    const items = [];
    let start;
    do {
      const page = await call('Scan', { TableName: table, ConsistentRead: true, ExclusiveStartKey: start });
      if (page.status !== 200) throw new Error(`Scan of ${table}: ${JSON.stringify(page.body)}`);
      items.push(...(page.body.Items || []));
      start = page.body.LastEvaluatedKey;
    } while (start);
    return items;
  }

  // The table as it was at `atMicros`: now, with every later change undone, newest first.
  async function snapshot(table, atMicros, names) {
    const state = new Map();
    for (const item of await scanAll(table)) state.set(canonical(pick(item, names)), item);
    const log = (changes.get(table) || []).filter((c) => c.at > atMicros).reverse();
    for (const c of log) {
      if (c.before) state.set(c.key, c.before); else state.delete(c.key);
    }
    return [...state.values()];
  }

  // Each item written in (from, to]: its keys, its image at `to` (none: deleted), its image at `from`.
  function netChanges(table, fromMicros, toMicros) {
    const byKey = new Map();
    for (const c of changes.get(table) || []) {
      if (c.at <= fromMicros || c.at > toMicros) continue;
      const seen = byKey.get(c.key);
      if (seen) { seen.after = c.after; seen.at = c.at; } else byKey.set(c.key, { keys: c.keys, before: c.before, after: c.after, at: c.at });
    }
    return [...byKey.values()].filter((c) => c.before || c.after);
  }

  async function s3Put(bucket, key, body) {
    const now = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const response = await fetch(`${s3Endpoint}/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`, {
      method: 'PUT', body,
      headers: { 'x-amz-date': now, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', authorization: `AWS4-HMAC-SHA256 Credential=S3RVER/${now.slice(0, 8)}/${region}/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=0` },
    });
    if (!response.ok) {
      const text = await response.text();
      const code = (/<Code>([^<]+)<\/Code>/.exec(text) || [])[1] || `HTTP${response.status}`;
      const error = new Error(code === 'NoSuchBucket' ? 'The specified bucket does not exist' : text);
      error.code = `S3${code}`;
      throw error;
    }
    return (response.headers.get('etag') || '').replace(/"/g, '');
  }

  const md5 = (bytes) => crypto.createHash('md5').update(bytes).digest('base64');
  const iso = (ms) => new Date(ms).toISOString();
  const randomName = () => Array.from(crypto.randomBytes(26), (b) => 'abcdefghijklmnopqrstuvwxyz234567'[b % 32]).join('');

  async function writeExport(e) {
    const d = e.description;
    const table = tableOfArn(d.TableArn);
    const names = await keyNames(table);
    const prefix = d.S3Prefix ? `${d.S3Prefix.replace(/\/+$/, '')}/` : '';
    const root = `${prefix}AWSDynamoDB/`;
    const id = d.ExportArn.split('/').pop();
    let lines;
    if (d.ExportType === 'INCREMENTAL_EXPORT') {
      const spec = d.IncrementalExportSpecification;
      const view = spec.ExportViewType;
      lines = netChanges(table, spec.ExportFromTime * 1e6, spec.ExportToTime * 1e6).map((c) => {
        const record = { Metadata: { WriteTimestampMicros: { N: String(c.at) } }, Keys: c.keys };
        if (c.after) record.NewImage = c.after;
        if (c.before && view === 'NEW_AND_OLD_IMAGES') record.OldImage = c.before;
        return JSON.stringify(record);
      });
    } else {
      lines = (await snapshot(table, d.ExportTime * 1e6, names)).map((item) => JSON.stringify({ Item: item }));
    }
    await s3Put(d.S3Bucket, `${root}${id}/_started`, Buffer.alloc(0));
    const parts = Math.max(1, Math.min(4, Math.ceil(lines.length / 1000)));
    const dataFolder = d.ExportType === 'INCREMENTAL_EXPORT' ? 'data/' : `${id}/data/`;
    let manifest = '';
    let bytes = 0;
    for (let p = 0; p < parts; p++) {
      const part = lines.filter((_, i) => i % parts === p);
      const gz = zlib.gzipSync(Buffer.from(part.map((l) => `${l}\n`).join(''), 'utf8'));
      const name = `${dataFolder}${randomName()}.json.gz`;
      const etag = await s3Put(d.S3Bucket, root + name, gz);
      bytes += gz.length;
      manifest += `${JSON.stringify({ itemCount: part.length, md5Checksum: md5(gz), etag, dataFileS3Key: root + name })}\n`;
    }
    const end = Date.now();
    const summary = {
      version: d.ExportType === 'INCREMENTAL_EXPORT' ? '2023-08-01' : '2020-06-30',
      exportArn: d.ExportArn, startTime: iso(d.StartTime * 1000), endTime: iso(end), tableArn: d.TableArn, tableId: d.TableId,
    };
    if (d.ExportType === 'INCREMENTAL_EXPORT') {
      summary.exportFromTime = iso(d.IncrementalExportSpecification.ExportFromTime * 1000);
      summary.exportToTime = iso(d.IncrementalExportSpecification.ExportToTime * 1000);
    } else {
      summary.exportTime = iso(d.ExportTime * 1000);
    }
    Object.assign(summary, {
      s3Bucket: d.S3Bucket, s3Prefix: d.S3Prefix || null, s3SseAlgorithm: d.S3SseAlgorithm || 'AES256', s3SseKmsKeyId: d.S3SseKmsKeyId || null,
      manifestFilesS3Key: `${root}${id}/manifest-files.json`, billedSizeBytes: bytes, itemCount: lines.length, outputFormat: 'DYNAMODB_JSON',
    });
    if (d.ExportType === 'INCREMENTAL_EXPORT') {
      summary.outputView = d.IncrementalExportSpecification.ExportViewType;
      summary.exportType = 'INCREMENTAL_EXPORT';
    }
    const filesBytes = Buffer.from(manifest, 'utf8');
    const summaryBytes = Buffer.from(JSON.stringify(summary), 'utf8');
    await s3Put(d.S3Bucket, `${root}${id}/manifest-files.json`, filesBytes);
    await s3Put(d.S3Bucket, `${root}${id}/manifest-files.md5`, Buffer.from(md5(filesBytes)));
    await s3Put(d.S3Bucket, `${root}${id}/manifest-summary.json`, summaryBytes);
    await s3Put(d.S3Bucket, `${root}${id}/manifest-summary.md5`, Buffer.from(md5(summaryBytes)));
    return { end, count: lines.length, bytes, manifest: `${root}${id}/manifest-summary.json` };
  }

  async function exportTable(body) {
    const table = tableOfArn(body.TableArn);
    if (!body.S3Bucket || !/^[a-z0-9A-Z]+[.\-\w]*[a-z0-9A-Z]+$/.test(body.S3Bucket) || body.S3Bucket.length > 255) fail('ValidationException', `Invalid S3Bucket: ${body.S3Bucket}`);
    if (body.S3Prefix !== undefined && (typeof body.S3Prefix !== 'string' || body.S3Prefix.length > 1024)) fail('ValidationException', 'S3Prefix must be at most 1024 characters.');
    if (body.ExportFormat && !['DYNAMODB_JSON', 'ION'].includes(body.ExportFormat)) fail('ValidationException', `Invalid ExportFormat: ${body.ExportFormat}`);
    if (body.ExportFormat === 'ION') fail('ValidationException', 'This local endpoint writes DYNAMODB_JSON exports only (test infrastructure).');
    const type = body.ExportType || 'FULL_EXPORT';
    if (!['FULL_EXPORT', 'INCREMENTAL_EXPORT'].includes(type)) fail('ValidationException', `Invalid ExportType: ${type}`);
    if (body.ClientToken && tokens.has(body.ClientToken)) return { ExportDescription: exportsByArn.get(tokens.get(body.ClientToken)).description };
    const t = await describe(table);
    if (!t) fail('TableNotFoundException', `Table not found: ${table}`);
    const p = pitr.get(table);
    if (!p) fail('PointInTimeRecoveryUnavailableException', `Point in time recovery is not enabled for table '${table}'`);
    const now = Date.now();
    const description = {
      ExportArn: '', ExportStatus: 'IN_PROGRESS', StartTime: seconds(now), TableArn: tableArn(table), TableId: t.TableId || crypto.randomUUID(),
      S3Bucket: body.S3Bucket, ExportFormat: 'DYNAMODB_JSON', ExportType: type,
    };
    if (body.ClientToken) description.ClientToken = body.ClientToken;
    if (body.S3BucketOwner) description.S3BucketOwner = body.S3BucketOwner;
    if (body.S3Prefix) description.S3Prefix = body.S3Prefix;
    if (body.S3SseAlgorithm) description.S3SseAlgorithm = body.S3SseAlgorithm;
    if (body.S3SseKmsKeyId) description.S3SseKmsKeyId = body.S3SseKmsKeyId;
    const earliest = p.enabledAt;
    if (type === 'FULL_EXPORT') {
      const at = body.ExportTime === undefined ? now : body.ExportTime * 1000;
      if (!(at >= earliest && at <= now)) fail('InvalidExportTimeException', `ExportTime ${iso(at)} is outside the point in time recovery window (${iso(earliest)} to now).`);
      description.ExportTime = seconds(at);
    } else {
      const spec = body.IncrementalExportSpecification || {};
      if (spec.ExportFromTime === undefined || spec.ExportToTime === undefined) fail('ValidationException', 'ExportFromTime and ExportToTime are required for an incremental export.');
      const from = spec.ExportFromTime * 1000;
      const to = spec.ExportToTime * 1000;
      if (!(from >= earliest && to <= now && from < to)) fail('InvalidExportTimeException', `The export period ${iso(from)} to ${iso(to)} is outside the point in time recovery window (${iso(earliest)} to now).`);
      if (to - from < minIncrementalMs || to - from > 24 * 3600 * 1000) {
        fail('ValidationException', `The incremental export period must be at least ${minIncrementalMs / 60000} minutes and at most 24 hours.`);
      }
      description.IncrementalExportSpecification = { ExportFromTime: seconds(from), ExportToTime: seconds(to), ExportViewType: spec.ExportViewType || 'NEW_AND_OLD_IMAGES' };
      if (!['NEW_IMAGE', 'NEW_AND_OLD_IMAGES'].includes(description.IncrementalExportSpecification.ExportViewType)) fail('ValidationException', `Invalid ExportViewType: ${spec.ExportViewType}`);
    }
    const id = `${String(now).padStart(14, '0')}-${crypto.randomBytes(4).toString('hex')}`;
    description.ExportArn = `${tableArn(table)}/export/${id}`;
    const entry = { description };
    exportsByArn.set(description.ExportArn, entry);
    if (body.ClientToken) tokens.set(body.ClientToken, description.ExportArn);
    log(`export ${description.ExportArn} (${type}) started; ExportTime ${body.ExportTime}, window ${JSON.stringify(body.IncrementalExportSpecification || null)}`);
    // The work, then the state change no sooner than the transition time.
    const started = Date.now();
    writeExport(entry).then((r) => {
      setTimeout(() => {
        Object.assign(description, { ExportStatus: 'COMPLETED', EndTime: seconds(r.end), ItemCount: r.count, BilledSizeBytes: r.bytes, ExportManifest: r.manifest });
        log(`export ${description.ExportArn} COMPLETED: ${r.count} item(s)`);
      }, Math.max(0, transitionMs - (Date.now() - started)));
    }, (err) => {
      Object.assign(description, { ExportStatus: 'FAILED', EndTime: seconds(Date.now()), FailureCode: err.code || 'UNKNOWN', FailureMessage: err.message });
      log(`export ${description.ExportArn} FAILED: ${err.message}`);
    });
    return { ExportDescription: description };
  }

  function describeExport(body) {
    const e = exportsByArn.get(body.ExportArn);
    if (!e) fail('ExportNotFoundException', `Export not found: ${body.ExportArn}`);
    return { ExportDescription: e.description };
  }

  function listExports(body) {
    const max = body.MaxResults === undefined ? 25 : body.MaxResults;
    if (!(Number.isInteger(max) && max >= 1 && max <= 25)) fail('ValidationException', 'MaxResults must be between 1 and 25.');
    const all = [...exportsByArn.values()].map((e) => e.description).filter((d) => !body.TableArn || d.TableArn === body.TableArn);
    const start = body.NextToken ? Number(Buffer.from(body.NextToken, 'base64').toString()) : 0;
    if (!Number.isInteger(start) || start < 0) fail('ValidationException', 'Invalid NextToken');
    const page = all.slice(start, start + max).map((d) => ({ ExportArn: d.ExportArn, ExportStatus: d.ExportStatus, ExportType: d.ExportType }));
    const result = { ExportSummaries: page };
    if (start + max < all.length) result.NextToken = Buffer.from(String(start + max)).toString('base64');
    return result;
  }

  // ---- imports

  async function s3Get(bucket, path, query = '') {
    const now = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    return fetch(`${s3Endpoint}/${bucket}${path}${query}`, {
      headers: { 'x-amz-date': now, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', authorization: `AWS4-HMAC-SHA256 Credential=S3RVER/${now.slice(0, 8)}/${region}/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=0` },
    });
  }

  async function listKeys(bucket, prefix) {
    const keys = [];
    let token = '';
    for (;;) {
      const q = `?list-type=2&prefix=${encodeURIComponent(prefix || '')}${token ? `&continuation-token=${encodeURIComponent(token)}` : ''}`;
      const response = await s3Get(bucket, '/', q);
      const text = await response.text();
      if (!response.ok) {
        const code = (/<Code>([^<]+)<\/Code>/.exec(text) || [])[1] || `HTTP${response.status}`;
        const error = new Error(code === 'NoSuchBucket' ? 'The specified bucket does not exist' : text);
        error.code = `S3${code}`;
        throw error;
      }
      const unescape = (t) => t.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
      for (const m of text.matchAll(/<Contents>[\s\S]*?<Key>([^<]*)<\/Key>[\s\S]*?<Size>(\d+)<\/Size>[\s\S]*?<\/Contents>/g)) keys.push({ key: unescape(m[1]), size: Number(m[2]) });
      const next = /<NextContinuationToken>([^<]+)<\/NextContinuationToken>/.exec(text);
      if (!next) return keys;
      token = unescape(next[1]);
    }
  }

  async function runImport(entry) {
    const d = entry.description;
    const params = d.TableCreationParameters;
    const keyNamesOf = params.KeySchema.map((k) => k.AttributeName);
    const types = Object.fromEntries(params.AttributeDefinitions.map((a) => [a.AttributeName, a.AttributeType]));
    const source = d.S3BucketSource;
    const objects = (await listKeys(source.S3Bucket, source.S3KeyPrefix)).filter((o) => !o.key.endsWith('/'));
    let processed = 0, imported = 0, errors = 0, bytes = 0;
    const batch = [];
    const flush = async () => {
      while (batch.length) {
        const chunk = batch.splice(0, 25);
        const r = await call('BatchWriteItem', { RequestItems: { [params.TableName]: chunk.map((Item) => ({ PutRequest: { Item } })) } });
        if (r.status !== 200) throw new Error(`BatchWriteItem: ${JSON.stringify(r.body)}`);
        imported += chunk.length;
      }
    };
    for (const o of objects) {
      const response = await s3Get(source.S3Bucket, `/${o.key.split('/').map(encodeURIComponent).join('/')}`);
      let raw = Buffer.from(await response.arrayBuffer());
      bytes += raw.length;
      if (d.InputCompressionType === 'GZIP') {
        try { raw = zlib.gunzipSync(raw); } catch { errors++; continue; }
      }
      for (const line of raw.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        processed++;
        let record;
        try { record = JSON.parse(line); } catch { errors++; continue; }
        const item = record && record.Item;
        const ok = item && typeof item === 'object' && keyNamesOf.every((k) => item[k] && Object.keys(item[k]).length === 1 && Object.keys(item[k])[0] === types[k]);
        if (!ok) { errors++; continue; }
        batch.push(item);
        if (batch.length >= 25) await flush();
      }
    }
    await flush();
    return { processed, imported, errors, bytes };
  }

  async function importTable(body) {
    const source = body.S3BucketSource;
    const params = body.TableCreationParameters;
    if (!source || !source.S3Bucket) fail('ValidationException', '1 validation error detected: Value null at \'s3BucketSource.s3Bucket\' failed to satisfy constraint: Member must not be null');
    if (!['DYNAMODB_JSON', 'ION', 'CSV'].includes(body.InputFormat)) fail('ValidationException', `Invalid InputFormat: ${body.InputFormat}`);
    if (body.InputFormat !== 'DYNAMODB_JSON') fail('ValidationException', 'This local endpoint imports DYNAMODB_JSON only (test infrastructure).');
    const compression = body.InputCompressionType || 'NONE';
    if (!['GZIP', 'ZSTD', 'NONE'].includes(compression)) fail('ValidationException', `Invalid InputCompressionType: ${compression}`);
    if (compression === 'ZSTD') fail('ValidationException', 'This local endpoint reads GZIP or NONE only (test infrastructure).');
    if (!params || !params.TableName || !Array.isArray(params.KeySchema) || !Array.isArray(params.AttributeDefinitions)) {
      fail('ValidationException', 'TableCreationParameters needs TableName, AttributeDefinitions and KeySchema.');
    }
    const request = canonical(body);
    if (body.ClientToken && importTokens.has(body.ClientToken)) {
      const seen = importTokens.get(body.ClientToken);
      if (seen.request !== request) fail('ImportConflictException', `There was a conflict when importing from the specified S3 source: the client token ${body.ClientToken} was used with other parameters.`);
      return { ImportTableDescription: importsByArn.get(seen.arn).description };
    }
    if (await describe(params.TableName)) fail('ResourceInUseException', `Table already exists: ${params.TableName}`);
    const create = { TableName: params.TableName, AttributeDefinitions: params.AttributeDefinitions, KeySchema: params.KeySchema, BillingMode: params.BillingMode || 'PROVISIONED' };
    if (params.ProvisionedThroughput) create.ProvisionedThroughput = params.ProvisionedThroughput;
    if (params.GlobalSecondaryIndexes) create.GlobalSecondaryIndexes = params.GlobalSecondaryIndexes;
    if (create.BillingMode === 'PROVISIONED' && !create.ProvisionedThroughput) fail('ValidationException', 'No provisioned throughput specified for the table');
    const created = await call('CreateTable', create);
    if (created.status !== 200) {
      const type = String(created.body.__type || '').split('#').pop() || 'ValidationException';
      fail(type, created.body.message || created.body.Message || 'CreateTable was refused');
    }
    // The table is ACTIVE before its items are written (dynalite's table states are its own).
    for (let i = 0; i < 100 && (await describe(params.TableName)).TableStatus !== 'ACTIVE'; i++) await new Promise((r) => setTimeout(r, 20));
    const now = Date.now();
    const id = `${String(now).padStart(14, '0')}-${crypto.randomBytes(4).toString('hex')}`;
    const description = {
      ImportArn: `${tableArn(params.TableName)}/import/${id}`, ImportStatus: 'IN_PROGRESS', TableArn: tableArn(params.TableName), TableId: created.body.TableDescription.TableId,
      S3BucketSource: source, InputFormat: body.InputFormat, InputCompressionType: compression, TableCreationParameters: params, StartTime: seconds(now),
      CloudWatchLogGroupArn: `arn:aws:logs:${region}:${account}:log-group:/aws-dynamodb/imports:*`,
    };
    if (body.ClientToken) description.ClientToken = body.ClientToken;
    const entry = { description };
    importsByArn.set(description.ImportArn, entry);
    if (body.ClientToken) importTokens.set(body.ClientToken, { arn: description.ImportArn, request });
    log(`import ${description.ImportArn} started from s3://${source.S3Bucket}/${source.S3KeyPrefix || ''}`);
    const started = Date.now();
    runImport(entry).then((r) => {
      setTimeout(() => {
        Object.assign(description, { ImportStatus: 'COMPLETED', EndTime: seconds(Date.now()), ProcessedItemCount: r.processed, ImportedItemCount: r.imported, ErrorCount: r.errors, ProcessedSizeBytes: r.bytes });
        log(`import ${description.ImportArn} COMPLETED: ${r.imported} of ${r.processed} item(s), ${r.errors} error(s)`);
      }, Math.max(0, transitionMs - (Date.now() - started)));
    }, (err) => {
      Object.assign(description, { ImportStatus: 'FAILED', EndTime: seconds(Date.now()), FailureCode: err.code || 'UNKNOWN', FailureMessage: err.message });
      log(`import ${description.ImportArn} FAILED: ${err.message}`);
    });
    return { ImportTableDescription: description };
  }

  function describeImport(body) {
    const e = importsByArn.get(body.ImportArn);
    if (!e) fail('ImportNotFoundException', `Import not found: ${body.ImportArn}`);
    return { ImportTableDescription: e.description };
  }

  const operations = {
    UpdateContinuousBackups: updateContinuousBackups, DescribeContinuousBackups: describeContinuousBackups,
    ExportTableToPointInTime: exportTable, DescribeExport: describeExport, ListExports: listExports,
    ImportTable: importTable, DescribeImport: describeImport,
  };

  return function control(req, res) {
    const target = String(req.headers['x-amz-target'] || '').split('.')[1];
    const handled = CONTROL.has(target);
    const logging = WRITES.has(target) && pitr.size > 0;
    if (!handled && !logging) return handler(req, res);
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      if (logging) {
        logged(req, res, target, raw).catch((e) => { log(`change log: ${e.stack}`); send(res, 500, { __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: e.message }); });
        return;
      }
      if (!String(req.headers.authorization || '').startsWith('AWS4-')) {
        return send(res, 400, { __type: 'com.amazon.coral.service#MissingAuthenticationTokenException', message: 'Request is missing Authentication Token' });
      }
      let body;
      try { body = JSON.parse(raw.toString('utf8') || '{}'); } catch { return send(res, 400, { __type: 'com.amazon.coral.service#SerializationException' }); }
      Promise.resolve().then(() => operations[target](body)).then(
        (value) => send(res, 200, value),
        (e) => e instanceof ApiError
          ? send(res, e.status, { __type: `com.amazonaws.dynamodb.v20120810#${e.type}`, message: e.message })
          : send(res, 500, { __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: String(e && e.message) }));
    });
  };
}

module.exports = { createControl };
