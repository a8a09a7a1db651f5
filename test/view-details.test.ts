// What the Temporal Web UI shows of a rollout: a run continued as new has no Summary or Details of its
// own (only a start sets them), so its Current Details carry the plan that the first run's Details had.
import assert from 'node:assert/strict';
import { resolvePlan } from '../src/plan';
import { initialState } from '../workflows/policy';
import { detailsOf, staticDetails, staticSummary } from '../workflows/view';

describe('Web UI details of a rollout', () => {
  const plan = resolvePlan({
    agent: 'support-bot',
    stable: 'v1',
    canary: 'v2',
    stages: [{ weight: 5, observe: '10m' }, { weight: 50, observe: '1h' }, { weight: 100 }],
  });
  const s = initialState(Date.parse('2026-12-05T10:00:00Z'), 3, 'deferred', 1);

  it('the first run: the plan in Summary and Details, the live state in Current Details', () => {
    assert.equal(staticSummary(plan), 'support-bot: v1 -> v2 (5% 10m, 50% 1h, 100%)');
    assert.match(staticDetails(plan), /\| 2 \| 50 \| 1h \|/);
    const current = detailsOf(plan, s);
    assert.match(current, /stage 1 of 3/);
    assert.doesNotMatch(current, /\| 2 \| 50 \| 1h \|/);
  });

  it('a continued run: Current Details start with the plan, then the live state', () => {
    const current = detailsOf(plan, s, true);
    assert.ok(current.startsWith(staticDetails(plan)), current.slice(0, 200));
    assert.match(current, /stage 1 of 3/);
  });
});
