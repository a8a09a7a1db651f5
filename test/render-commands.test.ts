// What `status` says about extend and a pause on fail: the window with its extension, and what the
// operator can do about a failed check (without a server).
import assert from 'node:assert/strict';
import { renderStatus } from '../src/cli/render';
import type { RolloutStatus } from '../workflows/messages';

const T = Date.parse('2026-11-26T10:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

function status(patch: Partial<RolloutStatus>): RolloutStatus {
  return {
    asOf: iso(T),
    workflowId: 'canary-support-bot',
    agent: 'support-bot',
    stable: 'v1',
    canary: 'v2',
    state: 'progressing',
    stageIndex: 0,
    stageCount: 2,
    canaryPercent: 10,
    stages: [
      { weight: 10, observeMs: 600_000 },
      { weight: 100, observeMs: 0 },
    ],
    stageStartedAt: iso(T - 120_000),
    observedMs: 120_000,
    remainingMs: 2_280_000,
    observing: true,
    startedAt: iso(T - 130_000),
    deadlineAt: iso(T + 3_600_000),
    failedChecks: 0,
    failureLimit: 1,
    inconclusiveStreak: 0,
    lastAnalysis: null,
    decisions: [],
    notifyFailures: [],
    ...patch,
  };
}

describe('status view: extend and pause on fail', () => {
  it('counts the extension into the stage window', () => {
    const text = renderStatus(status({ extendedMs: 1_800_000 }), { now: T });
    assert.match(text, /observed 2m of 40m \(extended by 30m\), 38m left/);
    assert.doesNotMatch(renderStatus(status({}), { now: T }), /extended/);
  });

  it('says a failed check paused the rollout, that it is still judged, and what to run', () => {
    const text = renderStatus(
      status({
        state: 'paused',
        observing: false,
        failedChecks: 1,
        pausedOnFail: { at: iso(T), metrics: ['quality_score'], reason: 'quality_score: 0.61 < 0.75\x1b[2J' },
      }),
      { now: T },
    );
    assert.match(text, /PAUSED ON A FAILED CHECK \(quality_score\): quality_score: 0\.61 < 0\.75/);
    assert.match(text, /keeps its 10% and is still judged: a second failed check rolls back/);
    assert.match(text, /Continue: agent-canary dismiss support-bot {3}End: agent-canary abort support-bot/);
    assert.ok(!text.includes('\x1b'), 'no terminal control sequences from a reason');
  });
});
