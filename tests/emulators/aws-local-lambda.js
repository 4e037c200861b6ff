// The Lambda API (REST-JSON, 2015-03-31 and 2019-09-25) for aws-local.js: the operations
// Deploy-BackupFunctions uses, with Lambda's state transitions (Pending -> Active, InProgress ->
// Successful; a change while one is in progress is a ResourceConflictException), versions, aliases
// with weighted routing, resource policies and event-invoke configurations. Invoke really runs the
// uploaded `bootstrap` (provided.al2023) against a Runtime API served here; asynchronous invocations
// are retried and then sent to the on-failure destination (an SQS queue or SNS topic on fauxqs).
// Test infrastructure only: never shipped.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const net = require('net');
const path = require('path');
const { spawn } = require('child_process');
const { readZip } = require('./zip-reader');

const RUNTIMES = new Set(['provided.al2023', 'provided.al2']);

class LambdaError extends Error {
  constructor(status, type, message) { super(message); this.status = status; this.type = type; }
}
const notFound = (what) => new LambdaError(404, 'ResourceNotFoundException', `Function not found: ${what}`);
const conflict = (message) => new LambdaError(409, 'ResourceConflictException', message);
const invalid = (message) => new LambdaError(400, 'InvalidParameterValueException', message);

function createLambda({ accountId, transitionMs, functionEnv, workDir, deliver, log }) {
  const functions = new Map();
  const invocations = [];
  const arnOf = (region, name, qualifier) => `arn:aws:lambda:${region}:${accountId}:function:${name}${qualifier ? ':' + qualifier : ''}`;

  // --- state

  function nameOf(identifier) {
    // A name, a partial ARN (account:function:name) or a full ARN, maybe with a qualifier.
    const m = /^(?:arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:)?([A-Za-z0-9_-]{1,64})(?::([A-Za-z0-9$_-]+))?$/.exec(decodeURIComponent(identifier));
    if (!m) throw invalid(`1 validation error detected: Value '${identifier}' at 'functionName' failed to satisfy constraint`);
    return { name: m[1], qualifier: m[2] };
  }

  function get(identifier) {
    const { name, qualifier } = nameOf(identifier);
    const fn = functions.get(name);
    if (!fn) throw notFound(identifier);
    return { fn, qualifier };
  }

  function schedule(fn, field, done) {
    setTimeout(() => { Object.assign(fn.config, done); fn.config.RevisionId = crypto.randomUUID(); }, transitionMs);
  }

  function ensureIdle(fn) {
    if (fn.config.State === 'Pending') throw conflict(`The operation cannot be performed at this time. The function is currently in the following state: Pending`);
    if (fn.config.LastUpdateStatus === 'InProgress') throw conflict(`The operation cannot be performed at this time. An update is in progress for resource: ${fn.config.FunctionArn}`);
  }

  function checkConfig(body, creating) {
    if (creating || body.Runtime !== undefined) {
      if (!RUNTIMES.has(body.Runtime)) throw invalid(`The runtime parameter of ${body.Runtime} is not supported here (provided.al2023, provided.al2).`);
    }
    if ((creating || body.Role !== undefined) && !/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/.test(body.Role || '')) {
      throw invalid(`1 validation error detected: Value '${body.Role}' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+`);
    }
    if ((creating || body.Handler !== undefined) && !(typeof body.Handler === 'string' && body.Handler.length > 0 && body.Handler.length <= 128)) {
      throw invalid('The handler must be 1 to 128 characters.');
    }
    if (body.Timeout !== undefined && !(Number.isInteger(body.Timeout) && body.Timeout >= 1 && body.Timeout <= 900)) throw invalid(`Timeout ${body.Timeout} is not in 1..900.`);
    if (body.MemorySize !== undefined && !(Number.isInteger(body.MemorySize) && body.MemorySize >= 128 && body.MemorySize <= 10240)) throw invalid(`MemorySize ${body.MemorySize} is not in 128..10240.`);
    if (body.Architectures !== undefined && !(Array.isArray(body.Architectures) && body.Architectures.length === 1 && ['x86_64', 'arm64'].includes(body.Architectures[0]))) {
      throw invalid('Architectures must be ["x86_64"] or ["arm64"].');
    }
    if (body.TracingConfig !== undefined && !['Active', 'PassThrough'].includes(body.TracingConfig.Mode)) throw invalid('TracingConfig.Mode must be Active or PassThrough.');
    const vars = body.Environment?.Variables || {};
    if (Buffer.byteLength(JSON.stringify(vars)) > 4096) throw invalid('Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit.');
    for (const key of Object.keys(vars)) if (!/^[a-zA-Z]([a-zA-Z0-9_])+$/.test(key)) throw invalid(`Environment variable name ${key} is not valid.`);
  }

  function codeOf(body) {
    if (!body.ZipFile) throw invalid('Code.ZipFile is required (this local endpoint takes the package inline).');
    const zip = Buffer.from(body.ZipFile, 'base64');
    let entries;
    try { entries = readZip(zip); } catch (e) { throw invalid(`Could not unzip uploaded file. ${e.message}`); }
    if (!entries.some((e) => e.name === 'bootstrap')) throw invalid('The package has no bootstrap at its root: a provided.al2023 function needs one.');
    return { zip, sha256: crypto.createHash('sha256').update(zip).digest('base64') };
  }

  // --- operations

  function createFunction(region, body) {
    const name = body.FunctionName;
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(name || '')) throw invalid(`FunctionName '${name}' is not valid.`);
    if (functions.has(name)) throw conflict(`Function already exist: ${name}`);
    checkConfig(body, true);
    const code = codeOf(body.Code || {});
    const fn = {
      name, region, code, versions: new Map(), aliases: new Map(), policies: new Map(), invokeConfigs: new Map(), nextVersion: 1,
      config: {
        FunctionName: name, FunctionArn: arnOf(region, name), Runtime: body.Runtime, Role: body.Role, Handler: body.Handler,
        CodeSize: code.zip.length, Description: body.Description || '', Timeout: body.Timeout ?? 3, MemorySize: body.MemorySize ?? 128,
        LastModified: new Date().toISOString().replace('Z', '+0000'), CodeSha256: code.sha256, Version: '$LATEST',
        Environment: { Variables: body.Environment?.Variables || {} }, TracingConfig: { Mode: body.TracingConfig?.Mode || 'PassThrough' },
        RevisionId: crypto.randomUUID(), State: 'Pending', StateReason: 'The function is being created.', StateReasonCode: 'Creating',
        LastUpdateStatus: 'Successful', PackageType: 'Zip', Architectures: body.Architectures || ['x86_64'],
      },
    };
    functions.set(name, fn);
    schedule(fn, 'State', { State: 'Active', StateReason: undefined, StateReasonCode: undefined });
    const result = { ...fn.config };
    if (body.Publish) result.Version = publish(fn, '').Version;
    return [201, result];
  }

  function publish(fn, description) {
    const latest = [...fn.versions.values()].pop();
    const same = latest && latest.config.CodeSha256 === fn.config.CodeSha256 && JSON.stringify(configOnly(latest.config)) === JSON.stringify(configOnly(fn.config));
    if (same) return latest.config;   // nothing changed since the last version: Lambda returns it
    const version = String(fn.nextVersion++);
    const config = { ...structuredClone(fn.config), Version: version, FunctionArn: arnOf(fn.region, fn.name, version), Description: description || fn.config.Description };
    fn.versions.set(version, { config, code: fn.code });
    return config;
  }

  function configOnly(c) {
    const { Runtime, Role, Handler, Timeout, MemorySize, Environment, TracingConfig, Architectures } = c;
    return { Runtime, Role, Handler, Timeout, MemorySize, Environment, TracingConfig, Architectures };
  }

  function resolve(fn, qualifier) {
    if (!qualifier || qualifier === '$LATEST') return { config: fn.config, code: fn.code };
    if (fn.versions.has(qualifier)) return fn.versions.get(qualifier);
    const alias = fn.aliases.get(qualifier);
    if (!alias) throw notFound(arnOf(fn.region, fn.name, qualifier));
    let version = alias.FunctionVersion;
    const weights = alias.RoutingConfig?.AdditionalVersionWeights || {};
    let draw = Math.random();
    for (const [v, w] of Object.entries(weights)) { if (draw < w) { version = v; break; } draw -= w; }
    return fn.versions.get(version) || { config: fn.config, code: fn.code };
  }

  function aliasBody(fn, name, body, existing) {
    const version = body.FunctionVersion ?? existing?.FunctionVersion;
    if (version !== '$LATEST' && !fn.versions.has(version)) throw notFound(arnOf(fn.region, fn.name, version));
    const weights = body.RoutingConfig?.AdditionalVersionWeights ?? (body.RoutingConfig ? {} : existing?.RoutingConfig?.AdditionalVersionWeights) ?? {};
    for (const [v, w] of Object.entries(weights)) {
      if (!fn.versions.has(v)) throw invalid(`Version ${v} in the routing configuration does not exist.`);
      if (!(w >= 0 && w <= 1)) throw invalid('A routing weight must be between 0.0 and 1.0.');
      if (v === version) throw invalid('The routing configuration cannot name the alias\'s own version.');
    }
    return {
      AliasArn: arnOf(fn.region, fn.name, name), Name: name, FunctionVersion: version,
      Description: body.Description ?? existing?.Description ?? '', RevisionId: crypto.randomUUID(),
      ...(Object.keys(weights).length ? { RoutingConfig: { AdditionalVersionWeights: weights } } : {}),
    };
  }

  function policyOf(fn, qualifier) {
    if (!fn.policies.has(qualifier || '')) fn.policies.set(qualifier || '', []);
    return fn.policies.get(qualifier || '');
  }

  // --- running the bootstrap

  function freePort() {
    return new Promise((resolve, reject) => {
      const tried = new Set();
      const attempt = () => {
        if (tried.size >= 100) return reject(new Error('no free port in 49100-49199'));
        let port;
        do { port = 49100 + Math.floor(Math.random() * 100); } while (tried.has(port));
        tried.add(port);
        const probe = net.createServer();
        probe.once('error', attempt);
        probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(port)));
      };
      attempt();
    });
  }

  function extract(code) {
    const dir = path.join(workDir, 'functions', code.sha256.replace(/[/+=]/g, '_'));
    if (!fs.existsSync(path.join(dir, 'bootstrap'))) {
      fs.mkdirSync(dir, { recursive: true });
      for (const entry of readZip(code.zip)) {
        const file = path.join(dir, entry.name);
        if (!file.startsWith(dir + path.sep)) throw new Error(`zip entry ${entry.name} escapes the package`);
        if (entry.name.endsWith('/')) { fs.mkdirSync(file, { recursive: true }); continue; }
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, entry.data(), { mode: entry.mode || 0o644 });
      }
    }
    return dir;
  }

  // Runs one invocation in a fresh process (a cold start): the Runtime API hands it the event, then
  // answers 410 so the bootstrap ends. Resolves {ok, payload, errorType, timings}.
  async function run(fn, target, event, requestId) {
    const config = target.config;
    const dir = extract(target.code);
    const port = await freePort();
    const deadline = Date.now() + config.Timeout * 1000;
    const timing = { spawnedAt: 0, firstRequestAt: 0, respondedAt: 0 };
    let served = false;
    let outcome = null;
    let finish;
    const done = new Promise((resolve) => { finish = resolve; });
    const api = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (!timing.firstRequestAt) timing.firstRequestAt = Date.now();
        if (req.method === 'GET' && req.url === '/2018-06-01/runtime/invocation/next') {
          if (served) { res.writeHead(410); return res.end(); }
          served = true;
          res.writeHead(200, {
            'content-type': 'application/json', 'Lambda-Runtime-Aws-Request-Id': requestId, 'Lambda-Runtime-Deadline-Ms': String(deadline),
            'Lambda-Runtime-Invoked-Function-Arn': config.FunctionArn, 'Lambda-Runtime-Trace-Id': `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${crypto.randomBytes(12).toString('hex')}`,
          });
          return res.end(event);
        }
        const m = /^\/2018-06-01\/runtime\/(?:invocation\/([^/]+)\/(response|error)|(init\/error))$/.exec(req.url);
        res.writeHead(202); res.end();
        if (m && !outcome) {
          timing.respondedAt = Date.now();
          outcome = m[2] === 'response'
            ? { ok: true, payload: body }
            : { ok: false, payload: body, errorType: req.headers['lambda-runtime-function-error-type'] || (m[3] ? 'Runtime.InitError' : 'Unhandled') };
          finish();
        }
      });
    });
    await new Promise((resolve) => api.listen(port, '127.0.0.1', resolve));
    const env = {
      PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', TZ: ':UTC',
      ...functionEnv, ...config.Environment.Variables,
      AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${port}`, _HANDLER: config.Handler, LAMBDA_TASK_ROOT: dir,
      AWS_LAMBDA_FUNCTION_NAME: fn.name, AWS_LAMBDA_FUNCTION_VERSION: config.Version, AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(config.MemorySize),
      AWS_REGION: fn.region, AWS_DEFAULT_REGION: fn.region,
    };
    timing.spawnedAt = Date.now();
    const child = spawn(path.join(dir, 'bootstrap'), [], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let logText = '';
    child.stdout.on('data', (d) => { logText += d; });
    child.stderr.on('data', (d) => { logText += d; });
    child.on('exit', (code) => { if (!outcome) { outcome = { ok: false, errorType: 'Runtime.ExitError', payload: Buffer.from(JSON.stringify({ errorType: 'Runtime.ExitError', errorMessage: `RequestId: ${requestId} Error: Runtime exited with error: exit status ${code}` })) }; finish(); } });
    const timer = setTimeout(() => {
      if (!outcome) {
        outcome = { ok: false, errorType: 'Sandbox.Timedout', payload: Buffer.from(JSON.stringify({ errorType: 'Sandbox.Timedout', errorMessage: `RequestId: ${requestId} Error: Task timed out after ${config.Timeout.toFixed(2)} seconds` })) };
        finish();
      }
    }, config.Timeout * 1000 + 500);
    await done;
    clearTimeout(timer);
    // Let the bootstrap see 410 and end by itself; kill it if it lingers.
    const exited = new Promise((resolve) => { if (child.exitCode !== null) resolve(); else child.on('exit', resolve); });
    const linger = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(linger);
    api.close();
    const record = {
      requestId, functionName: fn.name, version: config.Version, ok: outcome.ok, errorType: outcome.errorType,
      coldStartMs: timing.respondedAt ? timing.respondedAt - timing.spawnedAt : null, initMs: timing.firstRequestAt ? timing.firstRequestAt - timing.spawnedAt : null,
      log: logText.slice(-20000),
    };
    invocations.push(record);
    log(`invoked ${fn.name}:${config.Version} ${requestId}: ${outcome.ok ? 'ok' : outcome.errorType} in ${record.coldStartMs} ms`);
    return { ...outcome, version: config.Version, record };
  }

  async function invokeAsync(fn, qualifier, event, requestId) {
    const configKey = qualifier || '$LATEST';
    const invokeConfig = fn.invokeConfigs.get(configKey) || fn.invokeConfigs.get('') || {};
    const retries = invokeConfig.MaximumRetryAttempts ?? 2;
    let result;
    for (let attempt = 0; attempt <= retries; attempt++) {
      result = await run(fn, resolve(fn, qualifier), event, attempt === 0 ? requestId : `${requestId}-retry${attempt}`);
      if (result.ok) break;
    }
    const destination = result.ok ? invokeConfig.DestinationConfig?.OnSuccess?.Destination : invokeConfig.DestinationConfig?.OnFailure?.Destination;
    if (!destination) return;
    const record = {
      version: '1.0', timestamp: new Date().toISOString(),
      requestContext: { requestId, functionArn: arnOf(fn.region, fn.name, qualifier || '$LATEST'), condition: result.ok ? 'Success' : 'RetriesExhausted', approximateInvokeCount: retries + 1 },
      requestPayload: safeJson(event),
      responseContext: { statusCode: 200, executedVersion: result.version, ...(result.ok ? {} : { functionError: 'Unhandled' }) },
      responsePayload: safeJson(result.payload),
    };
    await deliver(destination, JSON.stringify(record));
  }

  function safeJson(buffer) { try { return JSON.parse(buffer.toString('utf8')); } catch { return buffer.toString('utf8'); } }

  // Called by other local services acting as AWS (S3 notifications, EventBridge rules): the function's
  // resource policy must allow the principal for the source, as Lambda checks it.
  function mayInvoke(principal, sourceArn, functionArn) {
    const { fn, qualifier } = get(functionArn);
    return policyOf(fn, qualifier).some((s) => s.Principal?.Service === principal && (s.Action === 'lambda:InvokeFunction' || s.Action === 'lambda:*')
      && (!s.Condition?.ArnLike?.['AWS:SourceArn'] || s.Condition.ArnLike['AWS:SourceArn'] === sourceArn));
  }

  async function invokeFromService(principal, sourceArn, functionArn, event) {
    const { fn, qualifier } = get(functionArn);
    if (!mayInvoke(principal, sourceArn, functionArn)) {
      log(`denied: ${principal} (${sourceArn}) may not invoke ${functionArn}`);
      invocations.push({ requestId: null, functionName: fn.name, denied: true, principal, sourceArn });
      return false;
    }
    invokeAsync(fn, qualifier, Buffer.from(JSON.stringify(event)), crypto.randomUUID()).catch((e) => log(`async invoke failed: ${e.stack}`));
    return true;
  }

  // --- routing

  async function handle(req, res, body, url, region, send) {
    const json = body.length ? JSON.parse(body.toString('utf8')) : {};
    const parts = url.pathname.split('/').filter(Boolean);   // ['2015-03-31', 'functions', name, ...]
    const qualifier = url.searchParams.get('Qualifier') || undefined;
    const m = req.method;
    try {
      if (parts[0] === '2015-03-31' && parts[1] === 'functions') {
        if (parts.length === 2 && m === 'POST') { const [s, r] = createFunction(region, json); return send(s, r); }
        const { fn, qualifier: inName } = get(parts[2] || '');
        const q = qualifier ?? inName;
        const rest = parts.slice(3).join('/');
        if (rest === '' && m === 'GET') {
          const t = resolve(fn, q);
          return send(200, { Configuration: t.config, Code: { RepositoryType: 'S3', Location: `http://127.0.0.1/${fn.name}.zip` }, Tags: {} });
        }
        if (rest === 'configuration' && m === 'GET') return send(200, resolve(fn, q).config);
        if (rest === 'code' && m === 'PUT') {
          ensureIdle(fn);
          if (json.Architectures) checkConfig({ Architectures: json.Architectures }, false);
          if (json.RevisionId && json.RevisionId !== fn.config.RevisionId) throw new LambdaError(412, 'PreconditionFailedException', 'The Revision Id provided does not match the latest Revision Id.');
          const code = codeOf(json);
          fn.code = code;
          Object.assign(fn.config, { CodeSha256: code.sha256, CodeSize: code.zip.length, LastUpdateStatus: 'InProgress', LastModified: new Date().toISOString().replace('Z', '+0000') });
          if (json.Architectures) fn.config.Architectures = json.Architectures;
          fn.config.RevisionId = crypto.randomUUID();
          schedule(fn, 'LastUpdateStatus', { LastUpdateStatus: 'Successful' });
          return send(200, { ...fn.config });
        }
        if (rest === 'configuration' && m === 'PUT') {
          ensureIdle(fn);
          checkConfig(json, false);
          for (const key of ['Role', 'Handler', 'Description', 'Timeout', 'MemorySize', 'Runtime']) if (json[key] !== undefined) fn.config[key] = json[key];
          if (json.Environment) fn.config.Environment = { Variables: json.Environment.Variables || {} };
          if (json.TracingConfig) fn.config.TracingConfig = { Mode: json.TracingConfig.Mode };
          Object.assign(fn.config, { LastUpdateStatus: 'InProgress', LastModified: new Date().toISOString().replace('Z', '+0000'), RevisionId: crypto.randomUUID() });
          schedule(fn, 'LastUpdateStatus', { LastUpdateStatus: 'Successful' });
          return send(200, { ...fn.config });
        }
        if (rest === 'versions' && m === 'POST') {
          ensureIdle(fn);
          if (json.CodeSha256 && json.CodeSha256 !== fn.config.CodeSha256) throw invalid('CodeSha256 does not match the function\'s code.');
          return send(201, publish(fn, json.Description));
        }
        if (rest === 'versions' && m === 'GET') return send(200, { Versions: [fn.config, ...[...fn.versions.values()].map((v) => v.config)] });
        if (rest === 'aliases' && m === 'POST') {
          if (!/^(?!^[0-9]+$)([a-zA-Z0-9-_]+)$/.test(json.Name || '')) throw invalid(`Alias name '${json.Name}' is not valid.`);
          if (fn.aliases.has(json.Name)) throw conflict(`Alias already exists: ${arnOf(fn.region, fn.name, json.Name)}`);
          const alias = aliasBody(fn, json.Name, json, null);
          fn.aliases.set(json.Name, alias);
          return send(201, alias);
        }
        if (parts[3] === 'aliases' && parts[4]) {
          const existing = fn.aliases.get(parts[4]);
          if (!existing) throw notFound(arnOf(fn.region, fn.name, parts[4]));
          if (m === 'GET') return send(200, existing);
          if (m === 'PUT') {
            if (json.RevisionId && json.RevisionId !== existing.RevisionId) throw new LambdaError(412, 'PreconditionFailedException', 'The Revision Id provided does not match the latest Revision Id.');
            const alias = aliasBody(fn, parts[4], json, existing);
            fn.aliases.set(parts[4], alias);
            return send(200, alias);
          }
        }
        if (rest === 'policy' && m === 'POST') {
          const statements = policyOf(fn, q);
          if (statements.some((s) => s.Sid === json.StatementId)) throw conflict(`The statement id (${json.StatementId}) provided already exists. Please provide a new statement id, or remove the existing statement.`);
          if (!json.Action || !json.Principal) throw invalid('Action and Principal are required.');
          const statement = {
            Sid: json.StatementId, Effect: 'Allow', Principal: json.Principal.includes('.amazonaws.com') ? { Service: json.Principal } : { AWS: json.Principal },
            Action: json.Action, Resource: arnOf(fn.region, fn.name, q),
            ...(json.SourceArn ? { Condition: { ArnLike: { 'AWS:SourceArn': json.SourceArn }, ...(json.SourceAccount ? { StringEquals: { 'AWS:SourceAccount': json.SourceAccount } } : {}) } } : {}),
          };
          statements.push(statement);
          return send(201, { Statement: JSON.stringify(statement) });
        }
        if (parts[3] === 'policy' && parts[4] && m === 'DELETE') {
          // RemovePermission: DELETE /2015-03-31/functions/{name}/policy/{StatementId}?Qualifier= -> 204
          const statements = policyOf(fn, q);
          const sid = decodeURIComponent(parts[4]);
          const index = statements.findIndex((s) => s.Sid === sid);
          if (index < 0) throw new LambdaError(404, 'ResourceNotFoundException', `Statement ${sid} is not found in resource policy.`);
          statements.splice(index, 1);
          return send(204, null);
        }
        if (rest === 'policy' && m === 'GET') {
          const statements = policyOf(fn, q);
          if (statements.length === 0) throw new LambdaError(404, 'ResourceNotFoundException', 'The resource you requested does not exist.');
          return send(200, { Policy: JSON.stringify({ Version: '2012-10-17', Id: 'default', Statement: statements }), RevisionId: fn.config.RevisionId });
        }
        if (rest === 'invocations' && m === 'POST') {
          const type = req.headers['x-amz-invocation-type'] || 'RequestResponse';
          if (fn.config.State !== 'Active') throw conflict(`The operation cannot be performed at this time. The function is currently in the following state: ${fn.config.State}`);
          if (type === 'DryRun') return send(204, null);
          const requestId = crypto.randomUUID();
          if (type === 'Event') {
            invokeAsync(fn, q, body, requestId).catch((e) => log(`async invoke failed: ${e.stack}`));
            return send(202, null, { 'x-amzn-RequestId': requestId });
          }
          const target = resolve(fn, q);
          const result = await run(fn, target, body, requestId);
          const headers = { 'X-Amz-Executed-Version': result.version, 'x-amzn-RequestId': requestId };
          if (!result.ok) headers['X-Amz-Function-Error'] = 'Unhandled';
          if (req.headers['x-amz-log-type'] === 'Tail') headers['X-Amz-Log-Result'] = Buffer.from(result.record.log.slice(-4096)).toString('base64');
          return send(200, result.payload, headers, true);
        }
      }
      if (parts[0] === '2019-09-25' && parts[1] === 'functions' && parts[3] === 'event-invoke-config') {
        const { fn, qualifier: inName } = get(parts[2]);
        const key = qualifier ?? inName ?? '$LATEST';
        if (m === 'PUT') {
          if (json.MaximumRetryAttempts !== undefined && !(json.MaximumRetryAttempts >= 0 && json.MaximumRetryAttempts <= 2)) throw invalid('MaximumRetryAttempts must be 0, 1 or 2.');
          for (const d of [json.DestinationConfig?.OnFailure?.Destination, json.DestinationConfig?.OnSuccess?.Destination]) {
            if (d !== undefined && !/^arn:aws[a-z-]*:(sqs|sns|lambda|events|s3):/.test(d)) throw invalid(`The destination ARN ${d} is invalid.`);
          }
          const config = {
            FunctionArn: arnOf(fn.region, fn.name, key), LastModified: Date.now() / 1000, MaximumRetryAttempts: json.MaximumRetryAttempts ?? 2,
            MaximumEventAgeInSeconds: json.MaximumEventAgeInSeconds ?? 21600, DestinationConfig: { OnSuccess: {}, OnFailure: {}, ...(json.DestinationConfig || {}) },
          };
          fn.invokeConfigs.set(key, config);
          return send(200, config);
        }
        if (m === 'GET') {
          const config = fn.invokeConfigs.get(key);
          if (!config) throw new LambdaError(404, 'ResourceNotFoundException', `The function ${arnOf(fn.region, fn.name, key)} doesn't have an EventInvokeConfig`);
          return send(200, config);
        }
      }
      throw new LambdaError(404, 'UnknownOperationException', `Nothing here answers ${m} ${url.pathname}`);
    } catch (e) {
      if (e instanceof LambdaError) return send(e.status, { Type: 'User', message: e.message }, { 'x-amzn-ErrorType': e.type });
      throw e;
    }
  }

  return { handle, invokeFromService, mayInvoke, invocations, functions };
}

module.exports = { createLambda };
