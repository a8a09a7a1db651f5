// One verdict per check, in the pure policy: a check asks the activity for the rollout's verdict
// (with the evidence carried from the earlier stages), and the policy acts on the recorded one;
// results recorded before (no `rollout`) are judged by the policy as they were. No server.
import assert from 'node:assert/strict';
import { judgeStatistical } from '../src/analysis';
import { rolloutVerdict } from '../src/analysis/evidence';
import type { Verdict } from '../src/analysis/types';
import { resolvePlan, type ResolvedPlan } from '../src/plan';
import { initialState, step, type CheckOutcome, type Effect, type PolicyState } from '../workflows/policy';
import { healthy, windowOf } from './analysis-fixtures';

const plan: ResolvedPlan = resolvePlan({
  agent: 'bot',
  stable: 'v1',
  canary: 'v2',
  stages: [{ weight: 5, observe: '10s' }, { weight: 50, observe: '10s' }, { weight: 100 }],
  analysis: { interval: '2s', judge: 'statistical', metrics: ['error_rate'] },
  leaseTtl: '30s',
  notify: [{ type: 'log' }],
  progressDeadline: '10m',
});

/** A rules-3 rollout in stage 1, its first check handed out: the state and the check effect. */
function firstCheck(): { s: PolicyState; now: number; check: Extract<Effect, { type: 'check' }> } {
  let now = 1_000_000;
  let s = initialState(now, 3);
  s = step(s, plan, { type: 'start' }, now).state;
  s = step(s, plan, { type: 'write_done', opId: s.inflight!.opId }, now).state;
  now += 2_000;
  const r = step(s, plan, { type: 'tick' }, now);
  const check = r.effects.find((e) => e.type === 'check');
  assert.ok(check && check.type === 'check');
  return { s: r.state, now, check };
}

const done = (s: PolicyState, now: number, outcome: CheckOutcome) =>
  step(s, plan, { type: 'check_done', opId: s.inflight!.opId, outcome }, now).state;

const stageVerdict = (): Verdict =>
  judgeStatistical(windowOf(healthy(20_000), healthy(1_000)), plan.analysis);

describe('one verdict per check (policy)', () => {
  it('asks for the rollout verdict with the carried evidence and the multiple the stage rules out', () => {
    const { check } = firstCheck();
    assert.deepEqual(check.rollout, { passAt: 2 });
  });

  it('acts on the recorded rollout verdict, not the stage verdict beside it', () => {
    const { s, now } = firstCheck();
    const stage = stageVerdict();
    const recorded = rolloutVerdict(stage, { passAt: 2 }, plan.analysis, undefined)!;
    // A rollout verdict unlike the stage's: the policy must follow it (a fail rolls back).
    const failing: Verdict = { ...recorded.verdict, verdict: 'fail', reason: 'error_rate: worse (recorded)' };
    const after = done(s, now, { metrics: 'ok', verdict: stage, rollout: { ...recorded, verdict: failing } });
    assert.equal(after.ending?.final, 'rolled_back');
    assert.match(after.ending!.reason, /worse \(recorded\)/);
    assert.deepEqual(after.evidence, recorded.evidence);
  });

  it('null: the stage verdict is the one; absent (recorded before): judged by the policy as it was', () => {
    const { s, now } = firstCheck();
    const stage = stageVerdict();
    const withNull = done(structuredClone(s), now, { metrics: 'ok', verdict: stage, rollout: null });
    assert.equal(withNull.lastAnalysis?.reason, stage.reason);
    assert.equal(withNull.evidence, undefined);
    const before = done(structuredClone(s), now, { metrics: 'ok', verdict: stage });
    const expected = rolloutVerdict(stage, { passAt: 2 }, plan.analysis, undefined)!;
    assert.equal(before.lastAnalysis?.reason, expected.verdict.reason);
    assert.deepEqual(before.evidence, expected.evidence);
  });
});
