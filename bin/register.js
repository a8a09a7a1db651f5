// Runs the TypeScript sources directly (transpile only, via swc): no build step between a
// git clone and `agent-canary`. Type errors are caught by `npm run typecheck`, not at run time.
//
// ts-node loads node:repl at start for its REPL (which we never use), and node:repl loads node:domain,
// which wraps every EventEmitter emit in the process for good: about a fifth of the gateway's CPU per
// proxied request. So ts-node gets node:repl only when something actually touches it.
const Module = require('node:module');
const path = require('node:path');

const load = Module._load;
let repl;
const lazyRepl = new Proxy(
  {},
  {
    get: (_target, key) => (repl ??= load('node:repl', null, false))[key],
  },
);
Module._load = function (request, parent, isMain) {
  if (request === 'repl' && parent && parent.filename.endsWith(path.join('ts-node', 'dist', 'repl.js'))) {
    return lazyRepl;
  }
  return load.call(this, request, parent, isMain);
};
try {
  require('ts-node').register({
    transpileOnly: true,
    swc: true,
    project: path.join(__dirname, '..', 'tsconfig.json'),
  });
} finally {
  Module._load = load;
}
