// A short, fixed-seed run of the fuzz suite (test/fuzz.ts) inside `npm test`; `npm run fuzz` runs
// the full one with a fresh seed. No Temporal: plans, workflow inputs, configs and gateway HTTP.
import assert from 'node:assert/strict';
import { runFuzz } from './fuzz';

describe('fuzz (short run, fixed seed)', function () {
  this.timeout(120_000);

  it('gives every hostile input a clean answer', async () => {
    const report = await runFuzz({
      seed: 11,
      plans: 120,
      workflowInputs: 80,
      gatewayConfigs: 60,
      http: 120,
      cli: 0,
    });
    assert.deepEqual(
      report.unclean.map((u) => `[${u.area}] ${u.problem} <- ${u.input}`),
      [],
    );
    assert.ok(report.total >= 380, `${report.total} cases`);
  });
});
