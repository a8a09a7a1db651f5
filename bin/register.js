// Runs the TypeScript sources directly (transpile only, via swc): no build step between a
// git clone and `agent-canary`. Type errors are caught by `npm run typecheck`, not at run time.
require('ts-node').register({
  transpileOnly: true,
  swc: true,
  project: require('node:path').join(__dirname, '..', 'tsconfig.json'),
});
