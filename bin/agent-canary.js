#!/usr/bin/env node
// The installed command. Start-up is most of what `status` or `list` cost: the TypeScript is
// transpiled once and cached by content (transpile.js), so a command loads neither swc nor parses
// source maps; on Node 22.1+ V8's compiled code is cached too (a no-op on Node 20, which lacks it).
const { enableCompileCache } = require('node:module');
const transpile = require('./transpile.js');
if (typeof enableCompileCache === 'function' && !process.env.NODE_DISABLE_COMPILE_CACHE) {
  enableCompileCache(transpile.v8CacheDir);
}
// Source maps only on request (NODE_OPTIONS=--enable-source-maps): parsing them costs ~50 ms a command.
transpile.install({ sourceMaps: false });
require('../src/cli/main.ts');
