// The shadow stage as people write it, and the gateway setting that allows it: pure, no server.
import assert from 'node:assert/strict';
import { PlanError, planForWorkflow, resolvePlan } from '../src/plan';
import { GatewayConfigError, resolveGatewayConfig } from '../src/gateway/config';
import { judge } from '../src/analysis';
import { judgeShadowStage } from '../src/analysis/shadow';
import { renderStatus } from '../src/cli/render';
import { emptyVersionMetrics } from '../src/metrics/types';
import type { RolloutStatus } from '../workflows/messages';

const base = { agent: 'bot', stable: 'v1', canary: 'v2' };

function problems(plan: unknown): string[] {
  try {
    resolvePlan(plan);
  } catch (err) {
    assert.ok(err instanceof PlanError, String(err));
    return err.problems.map((p) => `${p.field}: ${p.message}`);
  }
  return [];
}

describe('shadow stage: plan and gateway config', () => {
  it('resolves a shadow stage before the weighted stages as weight 0 with its share', () => {
    const plan = resolvePlan({
      ...base,
      stages: [{ shadow: 20, observe: '30m' }, { weight: 5, observe: '30m' }, { weight: 100 }],
    });
    assert.deepEqual(plan.stages[0], { weight: 0, shadow: 20, observeMs: 1_800_000 });
    assert.deepEqual(plan.stages[1], { weight: 5, observeMs: 1_800_000 });
  });

  it('names the field of every misplaced or malformed shadow stage', () => {
    assert.deepEqual(
      problems({
        ...base,
        stages: [{ weight: 5, observe: '1m' }, { shadow: 20, observe: '1m' }, { weight: 100 }],
      }),
      ['stages.1.shadow: a shadow stage must be the first stage (before any user meets the canary)'],
    );
    assert.deepEqual(problems({ ...base, stages: [{ shadow: 20 }, { weight: 100 }] }), [
      'stages.0.observe: is required for a shadow stage',
    ]);
    assert.deepEqual(
      problems({ ...base, stages: [{ shadow: 20, weight: 5, observe: '1m' }, { weight: 100 }] }),
      ['stages.0.shadow: a stage is either weighted or shadow: give weight or shadow, not both'],
    );
    assert.deepEqual(problems({ ...base, stages: [{ shadow: 0, observe: '1m' }, { weight: 100 }] }), [
      'stages.0.shadow: must be above 0',
    ]);
    assert.deepEqual(problems({ ...base, stages: [{ shadow: 120, observe: '1m' }, { weight: 100 }] }), [
      'stages.0.shadow: must be at most 100',
    ]);
    assert.deepEqual(problems({ ...base, stages: [{ observe: '1m' }, { weight: 100 }] }), [
      'stages.0.weight: give weight (or shadow for a shadow stage)',
    ]);
    assert.deepEqual(problems({ ...base, analysis: { metrics: ['error_rate', 'preference'] } }), [
      'analysis.metrics: preference is judged on shadow pairs: add a shadow stage first (stages: [{ shadow: 20, observe: 30m }, ...])',
    ]);
  });

  it('keeps a resolved plan honest: a weight-0 stage must be the first and a shadow one', () => {
    const plan = resolvePlan({ ...base, stages: [{ shadow: 20, observe: '1m' }, { weight: 100 }] });
    assert.throws(
      () =>
        planForWorkflow({
          ...plan,
          stages: [
            { weight: 0, observeMs: 60_000 },
            { weight: 100, observeMs: 0 },
          ],
        }),
      /stages\.0: weight must be above 0 \(or the stage a shadow stage\)/,
    );
    assert.throws(
      () =>
        planForWorkflow({
          ...plan,
          stages: [
            { weight: 5, shadow: 10, observeMs: 60_000 },
            { weight: 100, observeMs: 0 },
          ],
        }),
      /its weight must be 0/,
    );
  });

  it('gateway config: shadow is "not allowed" unless the team says "allowed"', () => {
    const agent = { stable: 'v1', versions: { v1: 'http://127.0.0.1:1', v2: 'http://127.0.0.1:2' } };
    assert.equal(
      resolveGatewayConfig({ agents: { bot: agent } }).agents.get('bot')!.shadowAllowed,
      undefined,
    );
    assert.equal(
      resolveGatewayConfig({ agents: { bot: { ...agent, shadow: 'allowed' } } }).agents.get('bot')!
        .shadowAllowed,
      true,
    );
    assert.throws(
      () => resolveGatewayConfig({ agents: { bot: { ...agent, shadow: true } } }),
      (err: unknown) =>
        err instanceof GatewayConfigError &&
        err.problems[0].field === 'agents.bot.shadow' &&
        /"allowed"/.test(err.problems[0].message),
    );
  });
});

describe('shadow stage: what status says', () => {
  it('shows the shadow stage with pairs judged as win / tie / loss, and the preference row', () => {
    const at = '2026-12-05T10:00:00.000Z';
    const status: RolloutStatus = {
      workflowId: 'canary-bot',
      agent: 'bot',
      stable: 'v1',
      canary: 'v2',
      state: 'progressing',
      stageIndex: 0,
      stageCount: 3,
      canaryPercent: 0,
      stages: [
        { weight: 0, observeMs: 1_800_000, shadow: 20 },
        { weight: 5, observeMs: 1_800_000 },
        { weight: 100, observeMs: 0 },
      ],
      stageStartedAt: at,
      observedMs: 600_000,
      remainingMs: 1_200_000,
      startedAt: at,
      deadlineAt: at,
      failedChecks: 0,
      failureLimit: 1,
      inconclusiveStreak: 0,
      lastAnalysis: {
        at,
        windowStart: at,
        failedChecks: 0,
        inconclusiveStreak: 0,
        ...judgeShadowStage(
          {
            agent: 'bot',
            since: 0,
            until: 1,
            stable: emptyVersionMetrics('v1'),
            canary: emptyVersionMetrics('v2'),
            shadow: {
              canary: emptyVersionMetrics('v2'),
              pairs: { wins: 12, ties: 8, losses: 20, mirrored: 44, skipped: 0 },
            },
            evaluator: {
              state: 'ok',
              unavailable: false,
              spend: { calls: 80, inputTokens: 1, outputTokens: 1 },
            },
          },
          resolvePlan({ ...base, stages: [{ shadow: 20, observe: '30m' }, { weight: 100 }] }).analysis,
          20,
          judge,
        ),
      },
      decisions: [],
      notifyFailures: [],
    };
    const text = renderStatus(status, { now: Date.parse(at) });
    assert.match(
      text,
      /SHADOW STAGE: every user on stable; 20% of requests mirrored to the canary, its answers discarded; 44 mirrored, 40 pair\(s\) judged: 12 win \/ 8 tie \/ 20 loss/,
    );
    assert.match(
      text,
      /preference\s+62\.5%\s+37\.5%\s+32\/32\s+inconclusive\s+not yet: canary preferred in 12 of 32 decided pairs/,
    );
    // The gateway keeps no loss reasons unless told to: one line says how, right under the stage.
    const lines = text.split('\n');
    const at0 = lines.findIndex((l) => l.startsWith('SHADOW STAGE'));
    assert.equal(
      lines[at0 + 1],
      '  loss reasons: not kept (they may quote users); to see some, set evaluate.keepLossReasons in the gateway config',
    );
  });

  it("prints the evaluator's kept loss reasons under the shadow stage, one line each", () => {
    const at = '2026-12-05T10:00:00.000Z';
    const window = (lossReasons?: string[]) => ({
      agent: 'bot',
      since: 0,
      until: 1,
      stable: emptyVersionMetrics('v1'),
      canary: emptyVersionMetrics('v2'),
      shadow: {
        canary: emptyVersionMetrics('v2'),
        pairs: { wins: 0, ties: 0, losses: 2, mirrored: 2, skipped: 0 },
        ...(lossReasons ? { lossReasons } : {}),
      },
    });
    const plan = resolvePlan({ ...base, stages: [{ shadow: 20, observe: '30m' }, { weight: 100 }] });
    const render = (lossReasons?: string[]) =>
      renderStatus(
        {
          workflowId: 'canary-bot',
          agent: 'bot',
          stable: 'v1',
          canary: 'v2',
          state: 'progressing',
          stageIndex: 0,
          stageCount: 2,
          canaryPercent: 0,
          stages: [
            { weight: 0, observeMs: 1_800_000, shadow: 20 },
            { weight: 100, observeMs: 0 },
          ],
          stageStartedAt: at,
          observedMs: 600_000,
          remainingMs: 1_200_000,
          startedAt: at,
          deadlineAt: at,
          failedChecks: 0,
          failureLimit: 1,
          inconclusiveStreak: 0,
          lastAnalysis: {
            at,
            windowStart: at,
            failedChecks: 0,
            inconclusiveStreak: 0,
            ...judgeShadowStage(window(lossReasons), plan.analysis, 20, judge),
          },
          decisions: [],
          notifyFailures: [],
        },
        { now: Date.parse(at) },
      ).split('\n');
    // A reason is content from outside: control characters (a terminal escape here) never reach the terminal.
    const lines = render(['A cites the manual; B does not', 'B is vague about "the refund"\u001b[2J\nnow']);
    const i = lines.findIndex((l) => l.startsWith('SHADOW STAGE'));
    assert.deepEqual(lines.slice(i + 1, i + 4), [
      "  the evaluator's reasons for the latest 2 loss(es) (the stable was answer A):",
      '    - A cites the manual; B does not',
      '    - B is vague about "the refund" [2J now',
    ]);
    const none = render([]);
    assert.equal(
      none[none.findIndex((l) => l.startsWith('SHADOW STAGE')) + 1],
      '  loss reasons: none kept yet',
    );
  });
});
