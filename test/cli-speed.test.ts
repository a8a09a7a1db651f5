// The installed command starts fast because it loads little: what it loads is checked here and in
// cli-fast.test.ts (the fast path loads no SDK client, gRPC or plan parser). How fast it then is
// depends on the machine, so the 300 ms goal is measured by `npm run bench:cli`, not asserted by a
// test: a wall-clock bound fails on a busy machine (1.5-2 s seen at a load of 8-24 on 2 cores).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BIN } from '../bench/cli';

const PLAN = join(__dirname, '..', 'examples', 'plan.yaml');

describe('cli start-up', function () {
  this.timeout(120_000);

  it('a second run loads neither swc nor source maps: the transpiled sources come from the cache', () => {
    // What the command loaded, reported as it exits (the command ends with process.exit).
    const probe = `
      process.on('exit', () => require('node:fs').writeSync(2, '\\nloaded: ' + JSON.stringify({
        swc: Object.keys(require.cache).some((f) => f.includes('@swc')),
        sourceMaps: process.sourceMapsEnabled,
      })));
      process.argv = [process.argv[0], ${JSON.stringify(BIN)}, 'validate', '-f', ${JSON.stringify(PLAN)}];
      require(${JSON.stringify(BIN)});`;
    for (const run of ['first', 'second']) {
      const r = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 0, r.stderr);
      const loaded = JSON.parse(/loaded: (.*)/.exec(r.stderr)![1]) as { swc: boolean; sourceMaps: boolean };
      assert.equal(loaded.sourceMaps, false, run);
      if (run === 'second') assert.equal(loaded.swc, false, 'swc loaded on a cached run');
    }
  });
});
