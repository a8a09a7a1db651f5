// The package entry as a team's code uses it: connect, start with a plan as written, status,
// commands, list, all from src/client.ts (what package.json main/types/exports point at once built).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as api from '../src/client';
import { fakeDeps } from './fakes';
import { eventually, testEnv, uniqueName, withWorker } from './harness';

const ROOT = join(__dirname, '..');

describe('package entry (TypeScript client API)', function () {
  this.timeout(60_000);

  it('package.json main, types and exports name what the build emits for src/client.ts', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      main: string;
      types: string;
      exports: { '.': { types: string; default: string } };
    };
    const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as {
      compilerOptions: { outDir: string; rootDir: string };
    };
    const build = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as {
      compilerOptions: { declaration: boolean };
    };
    assert.equal(tsconfig.compilerOptions.rootDir, '.');
    const out = `${tsconfig.compilerOptions.outDir}/src/client`;
    assert.equal(pkg.main, `${out}.js`);
    assert.equal(pkg.types, `${out}.d.ts`);
    assert.deepEqual(pkg.exports['.'], { types: `./${out}.d.ts`, default: `./${out}.js` });
    assert.equal(build.compilerOptions.declaration, true, 'the build emits the .d.ts files');
    for (const name of [
      'connect',
      'startRollout',
      'getStatus',
      'sendCommand',
      'listRollouts',
      'retryRollout',
    ]) {
      assert.equal(typeof (api as Record<string, unknown>)[name], 'function', name);
    }
  });

  it('connects, starts with the plan as written, extends, reads status, lists and aborts', async () => {
    const { address, namespace } = testEnv();
    const { deps, metrics, router } = fakeDeps();
    const agent = uniqueName('entry');
    metrics.set(agent, { rps: 200 });
    await assert.rejects(
      api.startRollout(testEnv().client, { agent, stable: 'v1', canary: 'v1' }),
      (err: Error) => err instanceof api.PlanError && /canary: must differ from stable/.test(err.message),
    );
    const { client, connection } = await api.connect({ address, namespace });
    try {
      await withWorker(deps, async () => {
        const started = await api.startRollout(client, {
          agent,
          stable: 'v1',
          canary: 'v2',
          stages: [{ weight: 25, observe: '10m' }, { weight: 100 }],
          analysis: { interval: '300ms', judge: 'thresholds', minSamples: 20 },
          leaseTtl: '30s',
        });
        assert.equal(started.workflowId, api.workflowIdFor(agent));
        await eventually(
          () => api.getStatus(client, agent),
          (s) => s.canaryPercent === 25,
          { what: 'stage 1 at 25%', intervalMs: 50 },
        );
        const s = await api.sendCommand(client, agent, 'extend', { duration: '10m', by: 'pipeline' });
        assert.equal(s.extendedMs, 600_000);
        const rows = await eventually(
          () => api.listRollouts(client, { agent, running: true }),
          (r) => r.length === 1,
          { what: 'the rollout listed' },
        );
        assert.equal(rows[0].canary, 'v2');
        await assert.rejects(
          api.sendCommand(client, agent, 'dismiss', {}),
          (err: Error) => err instanceof api.CommandRefusedError && /nothing to dismiss/.test(err.message),
        );
        const end = await api.sendCommand(client, agent, 'abort', { reason: 'entry test', by: 'pipeline' });
        assert.equal(end.state, 'aborted');
        assert.deepEqual(await started.result(), { state: 'aborted', stable: 'v1', reason: 'entry test' });
        assert.equal(router.canaryWeight(agent), 0);
      });
    } finally {
      await connection.close();
    }
  });
});
