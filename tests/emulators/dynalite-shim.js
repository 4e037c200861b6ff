'use strict';
// dynalite 4.0.0 with one fix, applied in memory when it loads (node_modules is not modified):
//   Its prefixed key stream (used by ListTagsOfResource) iterates every key of every table and
//   filters by prefix, so one ListTagsOfResource costs time proportional to all items held —
//   about 0.8 s at 200k items, blocking the single-threaded server. DynamoDB answers it in
//   constant time. The fix bounds the stream to the prefix's key range, as dynalite's own value
//   stream already does. If the source no longer matches, this shim refuses to start.
// It also answers DynamoDB's point-in-time recovery and export control plane, which dynalite lacks
// (dynamo-control.js), writing exports into the local S3 emulator named by --s3-endpoint.
// Usage: node dynalite-shim.js [--s3-endpoint URL] [--min-incremental-ms N] [--transition-ms N] [dynalite cli options...]
const fs = require('fs');
const path = require('path');
const Module = require('module');

const dbFile = require.resolve('dynalite/db/index.js');
const original = 'const mainStream = mainDb.createKeyStream(options)';
const patched = "const mainStream = mainDb.createKeyStream(Object.assign({ gte: prefix, lt: prefix + '\\xFF' }, options))";

const source = fs.readFileSync(dbFile, 'utf8');
if (!source.includes(original)) {
  console.error(`dynalite-shim: ${dbFile} does not contain the expected code; update the shim for this dynalite version.`);
  process.exit(3);
}
const dbModule = new Module(dbFile, module);
dbModule.filename = dbFile;
dbModule.paths = Module._nodeModulePaths(path.dirname(dbFile));
dbModule._compile(source.replace(original, patched), dbFile);
dbModule.loaded = true;
require.cache[dbFile] = dbModule;

// Our own options, taken out before dynalite's CLI reads the rest.
const own = {};
for (const name of ['--s3-endpoint', '--min-incremental-ms', '--transition-ms']) {
  const at = process.argv.indexOf(name);
  if (at > 0) own[name] = process.argv.splice(at, 2)[1];
}
const http = require('http');
const { createControl } = require('./dynamo-control');
const createServer = http.createServer;
http.createServer = function (...args) {
  const handler = args.find((a) => typeof a === 'function');
  const control = createControl({
    handler,
    s3Endpoint: own['--s3-endpoint'],
    minIncrementalMs: own['--min-incremental-ms'] ? Number(own['--min-incremental-ms']) : undefined,
    transitionMs: own['--transition-ms'] ? Number(own['--transition-ms']) : undefined,
    log: (line) => process.stderr.write(`${new Date().toISOString()} control: ${line}\n`),
  });
  return createServer.apply(http, args.map((a) => (a === handler ? control : a)));
};

process.argv.splice(1, 1, require.resolve('dynalite/cli.js'));
require('dynalite/cli.js');
