'use strict';
// dynalite 4.0.0 with one fix, applied in memory when it loads (node_modules is not modified):
//   Its prefixed key stream (used by ListTagsOfResource) iterates every key of every table and
//   filters by prefix, so one ListTagsOfResource costs time proportional to all items held —
//   about 0.8 s at 200k items, blocking the single-threaded server. DynamoDB answers it in
//   constant time. The fix bounds the stream to the prefix's key range, as dynalite's own value
//   stream already does. If the source no longer matches, this shim refuses to start.
// Usage: node dynalite-shim.js [dynalite cli options...]
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

process.argv.splice(1, 1, require.resolve('dynalite/cli.js'));
require('dynalite/cli.js');
