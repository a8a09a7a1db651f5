// `node -r ./bin/register.js file.ts` (tests, benches, npm scripts): TypeScript sources run directly,
// stack traces through the source maps. See transpile.js.
require('./transpile.js').install({ sourceMaps: true });
