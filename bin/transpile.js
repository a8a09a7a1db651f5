// Runs the TypeScript sources directly: each .ts file is transpiled by swc when it is first required
// (types stripped, no type check: `npm run typecheck` does that), so there is no build step between a
// git clone and `agent-canary`. Not ts-node: it loads the TypeScript compiler (about 0.35 s on every
// command) and Node's REPL, whose `domain` module adds work to every EventEmitter in the gateway.
//
// The output is cached by content (node_modules/.cache/agent-canary/swc): a command then neither
// loads swc (a native module) nor transpiles, which is most of what the CLI spends before it talks
// to Temporal. A changed byte in a source (or another swc version) is a new key, so the cache is
// never stale; an unwritable cache (a read-only install) only costs the transpile.
const fs = require('node:fs');
const path = require('node:path');
const { createHash } = require('node:crypto');
const { addHook } = require('pirates');

// Only this project's own sources, wherever it is installed (even inside another project's
// node_modules), never its dependencies.
const root = path.join(__dirname, '..') + path.sep;
const dependencies = path.join(root, 'node_modules') + path.sep;
const cacheDir = path.join(dependencies, '.cache', 'agent-canary', 'swc');
const v8CacheDir = path.join(dependencies, '.cache', 'agent-canary', 'v8');

// As tsconfig.json: ES2022, CommonJS with esModuleInterop. Part of the cache key.
const OPTIONS = {
  sourceMaps: 'inline',
  jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
  module: { type: 'commonjs' },
  swcrc: false,
  configFile: false,
};

let swc;
let salt;
/** The swc version and options: a new swc or new options never reuse old output. */
function cacheSalt() {
  if (salt === undefined) {
    const pkg = path.join(path.dirname(require.resolve('@swc/core/package.json')), 'package.json');
    salt = `${JSON.parse(fs.readFileSync(pkg, 'utf8')).version}\0${JSON.stringify(OPTIONS)}`;
  }
  return salt;
}

function transform(code, filename) {
  const key = createHash('sha256')
    .update(cacheSalt())
    .update('\0')
    // The absolute path: the inline source map names it, so a moved checkout transpiles afresh.
    .update(filename)
    .update('\0')
    .update(code)
    .digest('hex');
  const cached = path.join(cacheDir, `${key}.js`);
  try {
    return fs.readFileSync(cached, 'utf8');
  } catch {
    /* not cached yet */
  }
  swc ??= require('@swc/core');
  const out = swc.transformSync(code, { ...OPTIONS, filename }).code;
  try {
    fs.mkdirSync(cacheDir, { recursive: true });
    // Write then rename: a concurrent reader sees the whole file or none.
    const tmp = `${cached}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, out);
    fs.renameSync(tmp, cached);
  } catch {
    /* read-only install: transpile every time */
  }
  return out;
}

/**
 * Installs the hook. sourceMaps: stack traces point into the .ts files (tests, development); it costs
 * the CLI about 50 ms per command to parse every map at load, so the command leaves it to
 * NODE_OPTIONS=--enable-source-maps.
 */
function install({ sourceMaps }) {
  if (sourceMaps) process.setSourceMapsEnabled(true);
  addHook(transform, {
    exts: ['.ts'],
    ignoreNodeModules: false,
    matcher: (filename) => filename.startsWith(root) && !filename.startsWith(dependencies),
  });
}

module.exports = { install, cacheDir, v8CacheDir };
