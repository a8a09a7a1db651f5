// The human views: what an operator reads in `status` and `list`.
import assert from 'node:assert/strict';
import { withSuccessCost } from '../src/analysis/success-cost';
import { renderList, renderStatus } from '../src/cli/render';
import type { RolloutState, RolloutStatus } from '../workflows/messages';

const T = Date.parse('2026-11-26T10:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

function status(patch: Partial<RolloutStatus> = {}): RolloutStatus {
  return {
    workflowId: 'canary-support-bot',
    agent: 'support-bot',
    stable: 'v1',
    canary: 'v2',
    state: 'progressing',
    stageIndex: 1,
    stageCount: 3,
    canaryPercent: 25,
    stages: [
      { weight: 5, observeMs: 60_000 },
      { weight: 25, observeMs: 600_000 },
      { weight: 100, observeMs: 0 },
    ],
    stageStartedAt: iso(T - 70_000),
    observedMs: 60_000,
    remainingMs: 540_000,
    startedAt: iso(T - 200_000),
    deadlineAt: iso(T + 3_600_000),
    failedChecks: 1,
    failureLimit: 3,
    inconclusiveStreak: 0,
    lastAnalysis: {
      at: iso(T),
      windowStart: iso(T - 70_000),
      failedChecks: 1,
      inconclusiveStreak: 0,
      verdict: 'fail',
      judge: 'thresholds',
      reason: 'error_rate: 0.08 > max 0.05',
      metrics: [
        {
          metric: 'error_rate',
          stable: 0.01,
          canary: 0.08,
          stableSamples: 900,
          canarySamples: 300,
          status: 'fail',
          reason: 'error_rate: 0.08 > max 0.05',
        },
        {
          metric: 'quality_score',
          stable: null,
          canary: null,
          stableSamples: 0,
          canarySamples: 0,
          status: 'nodata',
          reason: 'no feedback yet',
        },
      ],
    },
    decisions: [
      {
        at: iso(T - 200_000),
        action: 'started',
        by: 'agent-canary',
        reason: 'rollout started',
        stageIndex: 0,
        percent: 5,
      },
      {
        at: iso(T - 70_000),
        action: 'promoted_stage',
        by: 'alice',
        reason: 'looks fine',
        stageIndex: 1,
        percent: 25,
      },
    ],
    notifyFailures: [],
    ...patch,
  };
}

describe('cli views', () => {
  it('status counts the window down from the last check to now', () => {
    const out = renderStatus(status(), { now: T + 30_000 });
    assert.match(out, /support-bot\s+v1 -> v2\s+PROGRESSING/);
    assert.match(out, /stage 2\/3\s+canary 25%\s+observed 1m30s of 10m, 8m30s left\s+failed checks 1\/3/);
  });

  it('status shows the last verdict per metric, stable against canary, and recent decisions', () => {
    const out = renderStatus(status(), { now: T });
    assert.match(out, /last check 10:00:00: FAIL \(thresholds\)/);
    assert.match(out, /error_rate\s+1\.00%\s+8\.00%\s+900\/300\s+fail\s+0\.08 > max 0\.05/);
    assert.match(out, /quality_score\s+n\/a\s+n\/a\s+0\/0\s+nodata\s+no feedback yet/);
    assert.match(out, /09:58:50\s+promoted_stage\s+25%\s+by alice: looks fine/);
  });

  it("status --verbose adds each metric's statistics; custom metrics get their rows", () => {
    const base = status();
    const analysis = base.lastAnalysis!;
    const s = {
      ...base,
      lastAnalysis: {
        ...analysis,
        metrics: [
          {
            ...analysis.metrics[0],
            stats: { llr: [1.2, 3.4], detail: 'ln LR 3.40 at +2 points; 24/300 errors against 9/900' },
          },
          {
            metric: 'costPerTask',
            stable: 0.012,
            canary: 0.031,
            stableSamples: 400,
            canarySamples: 380,
            status: 'fail',
            reason: 'costPerTask: worse: 0.031 against 0.012 on stable',
          },
        ],
      },
    } as typeof base;
    const plain = renderStatus(s, { now: T });
    assert.doesNotMatch(plain, /ln LR/);
    assert.match(plain, /costPerTask\s+0\.012\s+0\.031\s+400\/380\s+fail\s+worse: 0\.031 against 0\.012/);
    const verbose = renderStatus(s, { now: T, verbose: true });
    assert.match(verbose, /error_rate[^\n]*\n\s+ln LR 3\.40 at \+2 points; 24\/300 errors against 9\/900/);
  });

  it('a paused rollout does not count down; a finished one shows no time left', () => {
    const paused = renderStatus(status({ state: 'paused' }), { now: T + 300_000 });
    assert.match(paused, /observed 1m of 10m, 9m left/);
    const done = renderStatus(status({ state: 'rolled_back', remainingMs: 0, canaryPercent: 0 }), {
      now: T + 300_000,
    });
    assert.match(done, /ROLLED BACK/);
    assert.match(done, /canary 0%/);
    assert.doesNotMatch(done, /left|observed/);
  });

  it('status shows the cost per successful task beside the verdict, from the window the check read', () => {
    const window = (count: number, sum: number) => ({
      version: 'v',
      requests: 10,
      errors: 0,
      latencyMs: { count: 0, p50: null, p99: null, histogram: [] },
      taskSuccess: { successes: count, total: count },
      quality: { count: 0, sum: 0, histogram: [] },
      signals: {
        answers: 10,
        inputTokens: { count: 0, sum: 0 },
        outputTokens: { count: 0, sum: 0 },
        cost: { count: 0, sum: 0 },
        ttftMs: { count: 0, histogram: [] },
        tools: { calls: 0, errors: 0 },
        finish: { count: 0, truncated: 0 },
        successCost: { count, sum },
      },
    });
    const base = status();
    const verdict = withSuccessCost(base.lastAnalysis!, {
      agent: 'a',
      since: 0,
      until: 1,
      stable: window(40, 0.084),
      canary: window(0, 0),
    });
    const out = renderStatus({ ...base, lastAnalysis: { ...base.lastAnalysis!, ...verdict } });
    assert.match(
      out,
      /cost per successful task: stable \$0\.0021 \(40 tasks\), canary no priced success yet/,
    );
    // Nothing priced succeeded on either side: no line at all.
    const none = withSuccessCost(base.lastAnalysis!, {
      agent: 'a',
      since: 0,
      until: 1,
      stable: window(0, 0),
      canary: window(0, 0),
    });
    assert.equal(none.costPerSuccess, undefined);
    assert.doesNotMatch(renderStatus(base), /cost per successful task/);
  });

  it('status mentions failed notifications', () => {
    const out = renderStatus(
      status({
        notifyFailures: [
          { at: iso(T), event: 'paused', target: 'slack https://hooks.slack.com/…', error: 'HTTP 500' },
        ],
      }),
    );
    assert.match(out, /notifications: 1 failed, last to slack https:\/\/hooks\.slack\.com\/…: HTTP 500/);
  });

  it('list aligns one row per rollout', () => {
    const out = renderList([
      {
        workflowId: 'canary-a',
        runId: 'r1',
        agent: 'a',
        stable: 'v1',
        canary: 'v2',
        state: 'progressing',
        percent: 25,
        status: 'RUNNING',
        startTime: iso(T),
        closeTime: null,
      },
      {
        workflowId: 'canary-longer-name',
        runId: 'r2',
        agent: 'longer-name',
        stable: 'v3',
        canary: 'v4',
        state: null,
        percent: null,
        status: 'TERMINATED',
        startTime: iso(T),
        closeTime: iso(T + 1000),
      },
    ]);
    const lines = out.split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0], /^AGENT\s+STATE\s+CANARY%/);
    assert.equal(lines[1].indexOf('progressing'), lines[0].indexOf('STATE'));
    // A terminated execution says so in STATE too, whatever it last published.
    assert.match(lines[2], /^longer-name\s+terminated\s+-\s+v3\s+v4\s+Terminated\s+2026-11-26 10:00:00$/);
    assert.equal(renderList([]), 'no rollouts');
  });

  it('list names the versions that serve now: both while it runs, one after it ends', () => {
    // As visibility holds them: the canary attribute keeps the plan's canary after the run ends, and a
    // promotion writes the canary into the stable attribute.
    const row = (state: RolloutState, status: string, stable: string, percent: number) => ({
      workflowId: `canary-${state}`,
      runId: 'r',
      agent: state.replace('_', '-'),
      stable,
      canary: 'v2',
      state,
      percent,
      status,
      startTime: iso(T),
      closeTime: status === 'RUNNING' ? null : iso(T + 1000),
    });
    const out = renderList([
      row('progressing', 'RUNNING', 'v1', 25),
      row('paused', 'RUNNING', 'v1', 25),
      row('promoted', 'COMPLETED', 'v2', 100),
      row('rolled_back', 'FAILED', 'v1', 0),
      row('aborted', 'CANCELLED', 'v1', 0),
    ]);
    const versions = out
      .split('\n')
      .slice(1)
      .map((line) =>
        line
          .split(/\s{2,}/)
          .slice(0, 5)
          .join(' | '),
      );
    assert.deepEqual(versions, [
      'progressing | progressing | 25 | v1 | v2',
      'paused | paused | 25 | v1 | v2',
      'promoted | promoted | 100 | v2 | -',
      'rolled-back | rolled back | 0 | v1 | -',
      'aborted | aborted | 0 | v1 | -',
    ]);
  });
});
