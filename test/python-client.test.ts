// A deploy pipeline in Python: the Temporal Python SDK (temporalio from PyPI, in the venv that
// .ci/python-client.sh caches) starts a rollout with the plan as written, signals and queries it.
// Skipped only when python3 itself is missing; a failing venv install fails the test.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fakeDeps } from './fakes';
import { testEnv, uniqueName, withWorker } from './harness';
import { requirePrerequisites } from './support/prerequisites';

const run = promisify(execFile);
const ROOT = join(__dirname, '..');

describe('the Temporal Python SDK as a client', function () {
  this.timeout(180_000);

  it('starts a rollout with the plan as written, pauses, resumes, extends, queries and aborts it', async function () {
    requirePrerequisites(this, 'python3');
    // Warm: prints the cached venv's python at once; cold: installs temporalio first (tens of seconds).
    const setup = await run('bash', [join(ROOT, '.ci', 'python-client.sh')], { timeout: 170_000 });
    const python = setup.stdout.trim().split('\n').at(-1)!;
    assert.ok(python, `no python from .ci/python-client.sh: ${setup.stderr}`);

    const { address, namespace } = testEnv();
    const { deps, router, metrics } = fakeDeps();
    const agent = uniqueName('python');
    metrics.set(agent, { rps: 200 });
    const plan = {
      agent,
      stable: 'v1',
      canary: 'v2',
      stages: [{ weight: 15, observe: '10m' }, { weight: 100 }],
      analysis: { interval: '500ms', judge: 'thresholds', minSamples: 20 },
      leaseTtl: '30s',
    };
    await withWorker(deps, async () => {
      const out = await run(
        python,
        [join(ROOT, 'test', 'python', 'rollout.py'), address, namespace, JSON.stringify(plan)],
        { timeout: 60_000 },
      ).catch((err: Error & { stderr?: string; stdout?: string; code?: unknown; signal?: unknown }) => {
        throw new Error(
          `the Python client failed (exit ${String(err.code)}, signal ${String(err.signal)}): ` +
            `${err.stderr || err.message}\n${err.stdout ?? ''}`,
        );
      });
      const seen = JSON.parse(out.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
      assert.deepEqual(
        {
          stageCount: seen.stageCount,
          startedPercent: seen.startedPercent,
          pausedBy: seen.pausedBy,
          pausedReason: seen.pausedReason,
          extendedMs: seen.extendedMs,
          abortState: seen.abortState,
          result: seen.result,
        },
        {
          stageCount: 2,
          startedPercent: 15,
          pausedBy: 'python-pipeline',
          pausedReason: 'from python',
          extendedMs: 300_000,
          abortState: 'aborted',
          result: { state: 'aborted', stable: 'v1', reason: 'python says stop' },
        },
      );
      assert.deepEqual(
        (seen.actions as string[]).filter((a) => a !== 'check_failed'),
        ['started', 'stage_started', 'paused', 'resumed', 'extended', 'aborted'],
      );
      assert.equal(router.canaryWeight(agent), 0, 'the router is back on stable');
    });
  });
});
