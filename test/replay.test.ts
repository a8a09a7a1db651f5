// Replays saved histories of real rollouts against today's workflow code: a change that would make a
// running rollout non-deterministic fails here, before it reaches a worker. Regenerate on purpose
// only (UPDATE_HISTORIES=1 npm test), and only together with a patched() guard for old runs.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { HISTORIES_DIR } from './support/histories';
import { testEnv } from './harness';

describe('replay of saved rollout histories', function () {
  this.timeout(120_000);

  it('replays every saved history without a determinism error', async function () {
    const files = (await fs.readdir(HISTORIES_DIR)).filter((f) => f.endsWith('.json')).sort();
    // The set of scenarios is part of the contract of this test: losing one silently would hide breakage.
    // One per supported code version (docs/versions.md): the v2-* ones ran on the policy interpreter
    // (patch control-loop-v2; code version 1, before it, is retired with workflows/legacy, and its
    // four histories are kept in test/histories/retired/, out of the replay set); the v3-* ones started
    // after the patch deferred-checks (each check handed to its activity with the time it is due);
    // the v4-* ones after the patch gates-v1 (a held pause on fail, approval gates, hooks); the v5-*
    // ones with a shadow stage (patch shadow-v1); the v6-* ones judged with conversations as the
    // unit (patch judge-v4); the v7-* ones with the plan as another client wrote it, resolved by
    // the first activity (patch plan-at-edge); the v8-* ones recorded the rollout's verdict in each
    // check's result (earlier ones have none: the workflow judges the rollout itself, as it did),
    // and v8-judge-v5-rolled-back started under the patch judge-v5 (code version 8); the v9-* one
    // continued as new at the bound of its history (patch bounded-runs); the v10-* one was judged by
    // judge v6 (patch judge-v6: a stage's passes kept, the stages' reads summed); the v11-* one
    // continued as new at a drawn bound (patch staggered-runs); the v12-* one ran with one marker for
    // the patches of versions 2-11 (patch baseline-v12).
    assert.deepEqual(files, [
      'v10-judge-v6-rolled-back.json',
      'v11-staggered-runs-continued.json',
      'v12-baseline-continued.json',
      'v2-aborted-by-signal.json',
      'v2-aborted-during-stuck-check.json',
      'v2-cancelled.json',
      'v2-extended.json',
      'v2-outcome-aborted.json',
      'v2-outcome-rolled-back.json',
      'v2-paused-on-fail-dismissed.json',
      'v2-paused-on-fail-rolled-back.json',
      'v2-promoted.json',
      'v2-retried.json',
      'v2-rolled-back.json',
      'v3-deferred-continued.json',
      'v3-deferred-promoted.json',
      'v4-gates-approved-hooks.json',
      'v4-paused-on-fail-held-rolled-back.json',
      'v5-shadow-rolled-back.json',
      'v6-judge-v4-rolled-back.json',
      'v7-plan-at-edge-aborted.json',
      'v8-judge-v5-rolled-back.json',
      'v8-rollout-verdict-recorded.json',
      'v9-bounded-runs-continued.json',
    ]);
    for (const file of files) {
      const history = JSON.parse(await fs.readFile(path.join(HISTORIES_DIR, file), 'utf8'));
      await Worker.runReplayHistory({ workflowBundle: testEnv().workflowBundle }, history, file);
    }
  });
});
