// The activities are thin adapters; what they add is how failures reach the workflow.
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../activities';
import { MetricsConfigError } from '../src/metrics/types';
import { resolvePlan } from '../src/plan';
import { RouterConfigError } from '../src/router/types';
import type { CheckOutcome } from '../workflows/policy';
import { FakeRouter, SteerableMetrics } from './fakes';

const plan = resolvePlan({ agent: 'bot', stable: 'v1', canary: 'v2' });

describe('activities', function () {
  const env = new MockActivityEnvironment();

  it('turns a router refusal (unknown agent or version) into a non-retryable failure', async function () {
    const router = new FakeRouter();
    router.setSplit = async () =>
      Promise.reject(new RouterConfigError('unknown version "v9" for agent "bot"'));
    const acts = createActivities({ router, metrics: new SteerableMetrics(), notifiers: () => [] });
    await assert.rejects(
      env.run(acts.setTrafficSplit, {
        agent: 'bot',
        desired: { stable: 'v1', canary: 'v9', canaryWeight: 5, leaseMs: 1000 },
      }),
      (err: unknown) =>
        err instanceof ApplicationFailure && err.nonRetryable && /unknown version/.test(err.message),
    );
  });

  const checkInput = (analysis = plan.analysis) => ({
    agent: 'bot',
    stable: 'v1',
    canary: 'v2',
    since: 0,
    until: 60_000,
    analysis,
    lease: { stable: 'v1', canary: 'v2', canaryWeight: 5, leaseMs: 60_000 },
  });

  it('turns a metrics refusal (bad token) into a non-retryable failure, and an outage into an outage outcome', async function () {
    const metrics = new SteerableMetrics();
    const acts = createActivities({ router: new FakeRouter(), metrics, notifiers: () => [] });
    metrics.fetch = async () => Promise.reject(new MetricsConfigError('401 from gateway: bad token'));
    await assert.rejects(
      env.run(acts.checkCanary, checkInput()),
      (err: unknown) =>
        err instanceof ApplicationFailure && err.nonRetryable && /bad token/.test(err.message),
    );
    // Not evidence either way: the workflow records the outage at this check and moves on.
    metrics.fetch = async () => Promise.reject(new Error('ECONNREFUSED'));
    const out = await env.run(acts.checkCanary, checkInput());
    assert.deepEqual(out, { metrics: 'outage', message: 'ECONNREFUSED' });
  });

  it('judges what the metrics source returns, with the plan judge', async function () {
    const metrics = new SteerableMetrics();
    metrics.set('bot', { rps: 1000 });
    const acts = createActivities({ router: new FakeRouter(), metrics, notifiers: () => [] });
    const res: CheckOutcome = await env.run(
      acts.checkCanary,
      checkInput({ ...plan.analysis, judge: 'thresholds' as const }),
    );
    assert.equal(res.metrics, 'ok');
    if (res.metrics !== 'ok') return;
    assert.equal(res.verdict.judge, 'thresholds');
    assert.equal(res.verdict.verdict, 'pass');
    assert.equal(res.canaryRequests, 60_000);
  });

  it('never throws from notify: failed channels come back as a list', async function () {
    const delivered: string[] = [];
    const acts = createActivities({
      router: new FakeRouter(),
      metrics: new SteerableMetrics(),
      notifiers: () => [
        { name: 'ok', send: async (e) => void delivered.push(e.type) },
        { name: 'down', send: async () => Promise.reject(new Error('connect ECONNREFUSED')) },
      ],
    });
    const event = {
      type: 'rolled_back' as const,
      agent: 'bot',
      stable: 'v1',
      canary: 'v2',
      workflowId: 'canary-bot',
      runId: 'r',
      stageIndex: 0,
      stageCount: 4,
      percent: 0,
      reason: 'r',
      by: 'agent-canary',
      at: new Date().toISOString(),
    };
    const failures = await env.run(acts.notify, { event, targets: [] });
    assert.deepEqual(delivered, ['rolled_back']);
    assert.deepEqual(failures, [{ target: 'down', error: 'connect ECONNREFUSED' }]);
  });
});
