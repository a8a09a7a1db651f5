// Runs the TypeScript sources directly: each .ts file is transpiled by swc when it is first required
// (types stripped, no type check: `npm run typecheck` does that), so there is no build step between a
// git clone and `agent-canary`. Not ts-node: it loads the TypeScript compiler (about 0.35 s on every
// command) and Node's REPL, whose `domain` module adds work to every EventEmitter in the gateway.
const path = require('node:path');
const { addHook } = require('pirates');
const { transformSync } = require('@swc/core');

// Only this project's own sources, wherever it is installed (even inside another project's
// node_modules), never its dependencies.
const root = path.join(__dirname, '..') + path.sep;
const dependencies = path.join(root, 'node_modules') + path.sep;

// Stack traces point into the .ts files through the inline source maps.
process.setSourceMapsEnabled(true);

addHook(
  (code, filename) =>
    transformSync(code, {
      filename,
      sourceMaps: 'inline',
      // As tsconfig.json: ES2022, CommonJS with esModuleInterop.
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
      module: { type: 'commonjs' },
      swcrc: false,
      configFile: false,
    }).code,
  {
    exts: ['.ts'],
    ignoreNodeModules: false,
    matcher: (filename) => filename.startsWith(root) && !filename.startsWith(dependencies),
  },
);
