#!/usr/bin/env node
// A local endpoint for the AWS APIs nothing installable emulates: CloudWatch PutMetricData (query
// protocol, 2010-08-01), the Lambda API (aws-local-lambda.js: functions, versions, aliases,
// permissions, event-invoke configs, Invoke running the uploaded bootstrap) and EventBridge rules
// (JSON 1.1: PutRule with a ScheduleExpression or an EventPattern, DescribeRule, PutTargets, RemoveTargets,
// ListTargetsByRule; events S3 sends to the default bus are matched against the rules' patterns). It checks every request's SigV4
// signature against the test credentials, answers with each service's own error codes, and lets
// tests read back what arrived. Test infrastructure only: never shipped in the module.
//
//   node aws-local.js --port P [--host 127.0.0.1] [--credentials ACCESS_KEY:SECRET,...] [--account 000000000000]
//        [--work DIR] [--function-env FILE.json] [--fauxqs http://127.0.0.1:Q] [--transition-ms 300]
//
// Inspection and the services' own calls (no signature):
//   GET  /__local/metrics        -> [{namespace, name, value, unit, dimensions, timestamp, region}]
//   GET  /__local/invocations    -> [{requestId, functionName, version, ok, errorType, coldStartMs, initMs, log}]
//   POST /__local/s3-notification {bucket, functionArn, event}: S3 invoking a function (needs its permission)
//   POST /__local/events/fire     {rule}: the rule's schedule comes due: its targets are invoked
//   POST /__local/events/put      {event}: a service (S3) puts an event on the default bus: each rule whose
//                                 EventPattern matches invokes its targets with the event (or their Input)
//   GET  /__local/assumed        -> [{roleArn, sessionName, accessKeyId, time}]: the STS AssumeRole calls answered
//   POST /__local/reset          -> forgets metrics and invocations
//
// STS AssumeRole (query protocol, 2011-06-15) answers with temporary credentials for the role. The local S3
// knows one identity, so the access key and secret are the caller's own; the session token names the role.
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
const account = args.account || '000000000000';
let metrics = [];
let assumed = [];
const { createLambda } = require('./aws-local-lambda');
const log = (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);
const lambda = createLambda({
  accountId: account,
  transitionMs: Number(args['transition-ms'] || 300),
  functionEnv: args['function-env'] ? JSON.parse(require('fs').readFileSync(args['function-env'], 'utf8')) : {},
  workDir: args.work || require('os').tmpdir(),
  deliver,
  log,
});
const rules = new Map();   // name -> {rule, targets}

// A destination (SQS queue or SNS topic ARN) on fauxqs, as Lambda delivers to it.
async function deliver(arn, message) {
  if (!args.fauxqs) return log(`no --fauxqs: dropped a delivery to ${arn}`);
  const auth = (service) => `AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/${service}/aws4_request, SignedHeaders=host, Signature=0`;
  const [, , service, , , name] = arn.split(':');
  const response = service === 'sqs'
    ? await fetch(`${args.fauxqs}/`, { method: 'POST', headers: { authorization: auth('sqs'), 'x-amz-target': 'AmazonSQS.SendMessage', 'content-type': 'application/x-amz-json-1.0' },
      body: JSON.stringify({ QueueUrl: `${args.fauxqs}/${account}/${name}`, MessageBody: message }) })
    : await fetch(`${args.fauxqs}/`, { method: 'POST', headers: { authorization: auth('sns'), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ Action: 'Publish', Version: '2010-03-31', TopicArn: arn, Message: message }) });
  log(`delivered to ${arn}: HTTP ${response.status}`);
}

function jsonError(res, status, type, message) {
  send(res, status, 'application/x-amz-json-1.1', JSON.stringify({ __type: type, message }));
}

// EventBridge (CloudWatch Events) rules, JSON 1.1 protocol.
function events(req, res, body) {
  const action = String(req.headers['x-amz-target'] || '').replace(/^AWSEvents\./, '');
  const json = body.length ? JSON.parse(body.toString('utf8')) : {};
  const region = req.signedFor.region;
  const ruleArn = (name) => `arn:aws:events:${region}:${account}:rule/${name}`;
  const ok = (value) => send(res, 200, 'application/x-amz-json-1.1', JSON.stringify(value));
  switch (action) {
    case 'PutRule': {
      if (!/^[\.\-_A-Za-z0-9]{1,64}$/.test(json.Name || '')) return jsonError(res, 400, 'ValidationException', `Rule name '${json.Name}' is not valid.`);
      if (json.ScheduleExpression && !/^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$/.test(json.ScheduleExpression)) {
        return jsonError(res, 400, 'ValidationException', 'Parameter ScheduleExpression is not valid.');
      }
      if (!json.ScheduleExpression && !json.EventPattern) {
        return jsonError(res, 400, 'ValidationException', 'Parameter(s) ScheduleExpression or EventPattern must be specified.');
      }
      if (json.EventPattern) {
        const problem = patternProblem(json.EventPattern);
        if (problem) return jsonError(res, 400, 'InvalidEventPatternException', `Event pattern is not valid. Reason: ${problem}`);
      }
      const existing = rules.get(json.Name);
      const rule = { Name: json.Name, Arn: ruleArn(json.Name), State: json.State || 'ENABLED', Description: json.Description || '', EventBusName: 'default' };
      if (json.ScheduleExpression) rule.ScheduleExpression = json.ScheduleExpression;
      if (json.EventPattern) rule.EventPattern = json.EventPattern;
      rules.set(json.Name, { rule, targets: existing ? existing.targets : [] });
      return ok({ RuleArn: rule.Arn });
    }
    case 'DescribeRule': {
      const entry = rules.get(json.Name);
      if (!entry) return jsonError(res, 400, 'ResourceNotFoundException', `Rule ${json.Name} does not exist on EventBus default.`);
      return ok(entry.rule);
    }
    case 'PutTargets': {
      const entry = rules.get(json.Rule);
      if (!entry) return jsonError(res, 400, 'ResourceNotFoundException', `Rule ${json.Rule} does not exist on EventBus default.`);
      for (const target of json.Targets || []) {
        entry.targets = entry.targets.filter((t) => t.Id !== target.Id).concat([target]);
      }
      return ok({ FailedEntryCount: 0, FailedEntries: [] });
    }
    case 'RemoveTargets': {
      const entry = rules.get(json.Rule);
      if (!entry) return jsonError(res, 400, 'ResourceNotFoundException', `Rule ${json.Rule} does not exist on EventBus default.`);
      entry.targets = entry.targets.filter((t) => !(json.Ids || []).includes(t.Id));
      return ok({ FailedEntryCount: 0, FailedEntries: [] });
    }
    case 'ListTargetsByRule': {
      const entry = rules.get(json.Rule);
      if (!entry) return jsonError(res, 400, 'ResourceNotFoundException', `Rule ${json.Rule} does not exist on EventBus default.`);
      return ok({ Targets: entry.targets });
    }
    default:
      return jsonError(res, 400, 'UnknownOperationException', `Unknown operation ${action}.`);
  }
}

// ---- event patterns (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html):
// every field of the pattern must match; a leaf is an array of alternatives: a value, or a filter
// (prefix, suffix, wildcard, anything-but, exists). Only what BackupDR's rules use is needed, but a
// filter this endpoint does not know is refused, never silently matched.

function patternProblem(text) {
  let pattern;
  try { pattern = JSON.parse(text); } catch { return 'Filter is not valid JSON'; }
  const check = (node) => {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return 'Filter is not an object';
    for (const value of Object.values(node)) {
      if (Array.isArray(value)) {
        for (const alt of value) {
          if (alt !== null && typeof alt === 'object') {
            const [op] = Object.keys(alt);
            if (!['prefix', 'suffix', 'wildcard', 'anything-but', 'exists'].includes(op)) return `Unrecognized match type ${op}`;
          }
        }
      } else {
        const inner = check(value);
        if (inner) return inner;
      }
    }
    return null;
  };
  return check(pattern);
}

function wildcardMatches(glob, value) {
  const re = new RegExp('^' + glob.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$', 's');
  return re.test(value);
}

function leafMatches(alternatives, value, present) {
  return alternatives.some((alt) => {
    if (alt === null || typeof alt !== 'object') return present && value === alt;
    if ('exists' in alt) return alt.exists === present;
    if (!present || typeof value !== 'string') return false;
    if ('prefix' in alt) return value.startsWith(alt.prefix);
    if ('suffix' in alt) return value.endsWith(alt.suffix);
    if ('wildcard' in alt) return wildcardMatches(alt.wildcard, value);
    if ('anything-but' in alt) return ![].concat(alt['anything-but']).includes(value);
    return false;
  });
}

function patternMatches(pattern, event) {
  return Object.entries(pattern).every(([key, expected]) => {
    const present = event !== null && typeof event === 'object' && key in event;
    if (Array.isArray(expected)) {
      const value = present ? event[key] : undefined;
      return Array.isArray(value) ? value.some((v) => leafMatches(expected, v, true)) : leafMatches(expected, value, present);
    }
    return present && patternMatches(expected, event[key]);
  });
}

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

function send(res, status, contentType, body, headers = {}) {
  const bytes = Buffer.from(body ?? '');
  res.writeHead(status, { 'content-type': contentType, 'content-length': String(bytes.length), 'x-amzn-requestid': crypto.randomUUID(), ...headers });
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

// ---- STS AssumeRole (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html)

function sts(req, res, form) {
  const action = form.get('Action');
  if (action !== 'AssumeRole') return queryError(res, 400, 'InvalidAction', `Could not find operation ${action} for version 2011-06-15`);
  const roleArn = form.get('RoleArn') || '';
  const session = form.get('RoleSessionName') || '';
  const duration = Number(form.get('DurationSeconds') || 3600);
  const role = /^arn:aws[a-z-]*:iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]+)$/.exec(roleArn);
  if (!role) return queryError(res, 400, 'ValidationError', `${roleArn} is invalid`);
  if (!/^[\w+=,.@-]{2,64}$/.test(session)) return queryError(res, 400, 'ValidationError', `1 validation error detected: Value '${session}' at 'roleSessionName' failed to satisfy constraint`);
  if (!(duration >= 900 && duration <= 43200)) return queryError(res, 400, 'ValidationError', `1 validation error detected: Value '${duration}' at 'durationSeconds' failed to satisfy constraint`);
  // A role named deny-* is one the caller may not assume: STS's AccessDenied.
  if (role[2].startsWith('deny-')) {
    return queryError(res, 403, 'AccessDenied', `User: arn:aws:sts::${account}:assumed-role/caller is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`);
  }
  const expiration = new Date(Date.now() + duration * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const token = Buffer.from(`role:${roleArn}:${crypto.randomUUID()}`).toString('base64');
  assumed.push({ roleArn, sessionName: session, accessKeyId: req.signedFor.accessKey, time: new Date().toISOString() });
  const esc = (t) => String(t).replace(/&/g, '&amp;').replace(/</g, '&lt;');
  send(res, 200, 'text/xml', `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>` +
    `<Credentials><AccessKeyId>${esc(req.signedFor.accessKey)}</AccessKeyId><SecretAccessKey>${esc(secrets.get(req.signedFor.accessKey))}</SecretAccessKey>` +
    `<SessionToken>${token}</SessionToken><Expiration>${expiration}</Expiration></Credentials>` +
    `<AssumedRoleUser><AssumedRoleId>AROALOCAL${role[1]}:${esc(session)}</AssumedRoleId><Arn>arn:aws:sts::${role[1]}:assumed-role/${esc(role[2])}/${esc(session)}</Arn></AssumedRoleUser>` +
    `</AssumeRoleResult><ResponseMetadata><RequestId>${crypto.randomUUID()}</RequestId></ResponseMetadata></AssumeRoleResponse>`);
}

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
  if (url.pathname === '/__local/invocations' && req.method === 'GET') return send(res, 200, 'application/json', JSON.stringify(lambda.invocations));
  if (url.pathname === '/__local/can-invoke' && req.method === 'GET') {
    let allowed = false;
    try { allowed = lambda.mayInvoke(url.searchParams.get('principal'), url.searchParams.get('source'), url.searchParams.get('function')); } catch { allowed = false; }
    return send(res, 200, 'application/json', JSON.stringify({ allowed }));
  }
  if (url.pathname === '/__local/assumed' && req.method === 'GET') return send(res, 200, 'application/json', JSON.stringify(assumed));
  if (url.pathname === '/__local/reset' && req.method === 'POST') {
    metrics = [];
    assumed = [];
    lambda.invocations.length = 0;
    return send(res, 200, 'application/json', '{}');
  }
  const body = await readBody(req);
  if (url.pathname === '/__local/s3-notification' && req.method === 'POST') {
    const n = JSON.parse(body.toString('utf8'));
    const invoked = await lambda.invokeFromService('s3.amazonaws.com', `arn:aws:s3:::${n.bucket}`, n.functionArn, n.event);
    return send(res, invoked ? 202 : 403, 'application/json', JSON.stringify({ invoked }));
  }
  if (url.pathname === '/__local/events/fire' && req.method === 'POST') {
    const { rule } = JSON.parse(body.toString('utf8'));
    const entry = rules.get(rule);
    if (!entry) return send(res, 404, 'application/json', JSON.stringify({ error: `no rule ${rule}` }));
    const fired = [];
    for (const target of entry.targets) {
      const event = target.Input ? JSON.parse(target.Input) : { version: '0', 'detail-type': 'Scheduled Event', source: 'aws.events', resources: [entry.rule.Arn], detail: {} };
      fired.push({ target: target.Arn, invoked: await lambda.invokeFromService('events.amazonaws.com', entry.rule.Arn, target.Arn, event) });
    }
    return send(res, 200, 'application/json', JSON.stringify(fired));
  }
  if (url.pathname === '/__local/events/put' && req.method === 'POST') {
    const { event } = JSON.parse(body.toString('utf8'));
    const fired = [];
    for (const entry of rules.values()) {
      if (!entry.rule.EventPattern || entry.rule.State !== 'ENABLED' || !patternMatches(JSON.parse(entry.rule.EventPattern), event)) continue;
      for (const target of entry.targets) {
        const input = target.Input ? JSON.parse(target.Input) : event;
        fired.push({ rule: entry.rule.Name, target: target.Arn, invoked: await lambda.invokeFromService('events.amazonaws.com', entry.rule.Arn, target.Arn, input) });
      }
    }
    log(`event ${event && event['detail-type']} from ${event && event.source}: ${fired.length} target(s)`);
    return send(res, 200, 'application/json', JSON.stringify(fired));
  }
  const refused = verify(req, body);
  if (refused) {
    const service = (/Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\//.exec(req.headers.authorization || '') || [])[1];
    if (service === 'lambda' || service === 'events') {
      const [status, code, message] = refused;
      const type = code === 'SignatureDoesNotMatch' && service === 'lambda' ? 'InvalidSignatureException' : code;
      return send(res, status, 'application/json', JSON.stringify({ message }), { 'x-amzn-ErrorType': type });
    }
    return queryError(res, ...refused);
  }
  if (req.signedFor.service === 'sts') return sts(req, res, new URLSearchParams(body.toString('utf8')));
  if (req.signedFor.service === 'monitoring') return cloudWatch(req, res, new URLSearchParams(body.toString('utf8')));
  if (req.signedFor.service === 'events') return events(req, res, body);
  if (req.signedFor.service === 'lambda') {
    return lambda.handle(req, res, body, url, req.signedFor.region, (status, value, headers = {}, raw = false) =>
      send(res, status, 'application/json', value === null ? '' : raw ? value : JSON.stringify(value), headers));
  }
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
