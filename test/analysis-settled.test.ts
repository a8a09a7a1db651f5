// Absolute limits on outcomes (task success, quality) read only requests older than the plan's
// feedback horizon: bad outcomes often arrive sooner than good ones, so the recent requests of a
// version look worse than they are. The comparison of the versions keeps the whole window.
import assert from 'node:assert/strict';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../activities';
import { judgeStatistical, type MetricResult, type Verdict } from '../src/analysis';
import { judgeAcrossStages } from '../src/analysis/evidence';
import { GatewayMetricsSource } from '../src/metrics/gateway';
import { ARRIVAL_WORDS, readSettled, settledHorizon } from '../src/metrics/settled';
import type { MetricsSource, MetricsWindow } from '../src/metrics/types';
import { PlanError, resolvePlan } from '../src/plan';
import { GatewayRouter } from '../src/router/gateway';
import type { CheckOutcome } from '../workflows/policy';
import { analysisWith, healthy, version, windowOf } from './analysis-fixtures';
import {
  TOKEN,
  gateway,
  invoke,
  putSplit,
  startUpstream,
  twoVersionConfig,
  waitFor,
} from './gateway-support';

const MIN = 60_000;
const task = (v: Verdict): MetricResult => v.metrics.find((m) => m.metric === 'task_success_rate')!;

/** A window whose recent feedback is biased (both versions under the 90% limit) plus a settled read. */
function biased(settled?: MetricsWindow['settled']): MetricsWindow {
  const w = windowOf(
    healthy(20_000, { successes: 17_600, total: 20_000 }), // 88%: feedback of recent requests missing
    healthy(2_000, { successes: 1_730, total: 2_000 }), // 86.5%
  );
  return settled ? { ...w, settled } : w;
}

describe('outcome limits and the feedback horizon (pure)', () => {
  const analysis = analysisWith();

  it('the plan key: a bounded duration, 30 min by default, and only where an outcome has a limit', () => {
    assert.equal(analysis.feedbackHorizonMs, 30 * MIN);
    assert.equal(settledHorizon(analysis), 30 * MIN);
    assert.equal(settledHorizon(analysisWith({ feedbackHorizon: '10m' })), 10 * MIN);
    // Unset, a plan of short stages gets its shortest window: it expects outcomes within it.
    const short = resolvePlan({
      agent: 'bot',
      stable: 'v1',
      canary: 'v2',
      stages: [{ weight: 10, observe: '2s' }, { weight: 50, observe: '1m' }, { weight: 100 }],
    });
    assert.equal(short.analysis.feedbackHorizonMs, 2_000);
    assert.equal(settledHorizon(analysisWith({ judge: 'thresholds' })), undefined);
    assert.equal(settledHorizon(analysisWith({ metrics: ['error_rate', 'quality_score'] })), undefined);
    // A rollout started before the key: its plan has none, and its checks read as they did.
    const { feedbackHorizonMs: _h, ...before } = analysis;
    assert.equal(settledHorizon(before), undefined);
    for (const [h, words] of [
      ['25h', /at most 1d|at most 24h/],
      ['6h', /not shorter than progressDeadline/],
    ] as const) {
      assert.throws(
        () => resolvePlan({ agent: 'bot', stable: 'v1', canary: 'v2', analysis: { feedbackHorizon: h } }),
        (err: unknown) =>
          err instanceof PlanError &&
          /analysis\.feedbackHorizon/.test(err.message) &&
          words.test(err.message),
      );
    }
  });

  it('no request older than the horizon yet: the limit waits for feedback, never healthy', () => {
    const w = windowOf(healthy(20_000), healthy(2_000));
    // Without a settled read (checks before the key) this window passes task success.
    assert.equal(task(judgeStatistical(w, analysis, true)).status, 'pass');
    const settled = {
      horizonMs: 30 * MIN,
      since: -30 * MIN,
      until: 30_000 - 30 * MIN,
      stable: version('v1', healthy(20_000)),
      canary: version('v2', { requests: 40, successes: 38, total: 40 }),
    };
    const v = judgeStatistical({ ...w, settled }, analysis, true);
    const r = task(v);
    assert.equal(r.status, 'inconclusive');
    assert.match(
      r.reason,
      /waiting for feedback \(requests older than 30m: too few samples \(40 of 100 on the canary\)\)/,
    );
    assert.deepEqual(
      r.stats?.guards?.map((g) => [g.waiting, g.llr]),
      [[true, 0]],
    );
    assert.notEqual(v.verdict, 'pass');
    // The rollout's verdict says the same, not "outside its limit".
    const rollout = judgeAcrossStages(v, undefined, analysis, 4, true).verdict;
    const rr = task(rollout);
    assert.equal(rr.status, 'inconclusive');
    assert.match(rr.reason, /waiting for feedback on older requests/);
    assert.doesNotMatch(rr.reason, /outside/);
    assert.notEqual(rollout.verdict, 'pass');
  });

  it('a limit the stable keeps on settled requests fires on the canary that breaks it, though recent feedback puts both beyond', () => {
    // The whole window: both under 90% (bad outcomes arrived, good ones not yet), so the limit
    // would be read as broken on the stable too and judged against the stable alone.
    const before = task(judgeStatistical(biased(), analysis, true));
    assert.notEqual(before.status, 'fail');
    assert.deepEqual(before.stats?.stableBeyond, [true]);
    const settled = {
      horizonMs: 30 * MIN,
      since: -30 * MIN,
      until: 30_000 - 30 * MIN,
      stable: version('v1', healthy(10_000, { successes: 9_500, total: 10_000 })),
      canary: version('v2', healthy(1_000, { successes: 850, total: 1_000 })),
    };
    const r = task(judgeStatistical(biased(settled), analysis, true));
    assert.equal(r.status, 'fail');
    assert.match(
      r.reason,
      /beyond its limit \(min 90%\) on requests older than 30m: task success 85% against 95% on stable/,
    );
    assert.deepEqual(r.stats?.stableBeyond, [false]);
    assert.match(r.stats!.detail, /limits on requests older than 30m/);
  });

  it('a source that counts outcomes on arrival: the limit reads every request, and the verdict says so', () => {
    const r = task(
      judgeStatistical(biased({ horizonMs: 30 * MIN, unavailable: ARRIVAL_WORDS }), analysis, true),
    );
    assert.match(
      r.stats!.detail,
      /limit read on every request, not only requests older than 30m: the metrics source counts outcomes when they arrive/,
    );
  });

  it('reads the window shifted back by the horizon only from a source that counts at request time', async () => {
    const asked: [number, number][] = [];
    const source: MetricsSource = {
      fetch: async (q) => {
        asked.push([q.since, q.until]);
        return windowOf(healthy(10), healthy(1));
      },
    };
    const query = { agent: 'bot', stable: 'v1', canary: 'v2', since: 100 * MIN, until: 130 * MIN };
    const arrival = await readSettled(source, query, windowOf(healthy(10), healthy(1)), 30 * MIN);
    assert.deepEqual(arrival, { horizonMs: 30 * MIN, unavailable: ARRIVAL_WORDS });
    assert.deepEqual(asked, []);
    const atRequest = { ...windowOf(healthy(10), healthy(1)), outcomesAt: 'request' as const };
    const settled = await readSettled(source, query, atRequest, 30 * MIN);
    // Shifted, not cut: the next stage's read starts where this one ends.
    assert.deepEqual(asked, [[70 * MIN, 100 * MIN]]);
    assert.ok('since' in settled && settled.canary.requests === 1);
  });
});

describe('outcome limits and the feedback horizon (a check against the gateway)', function () {
  this.timeout(20_000);

  it('the check reads older requests for the limit: fast bad feedback on new requests does not break it', async () => {
    const v1 = await startUpstream('v1', (_req, res) => res.end('{}'));
    const v2 = await startUpstream('v2', (_req, res) => res.end('{}'));
    const gw = await gateway({ config: twoVersionConfig(v1, v2) });
    try {
      await putSplit(gw, 'bot', { stable: 'v1', canary: 'v2', canaryWeight: 50, leaseMs: 60_000 });
      // Sessions sticky to each version, found by asking the gateway.
      const sessions: Record<string, string[]> = { v1: [], v2: [] };
      for (let i = 0; sessions.v1.length < 2 || sessions.v2.length < 2; i++) {
        const r = await invoke(gw, 'bot', `s${i}`);
        assert.ok(i < 200, 'both versions get sessions at 50%');
        if (r.version && sessions[r.version].length < 2) sessions[r.version].push(`s${i}`);
      }
      const since = Date.now() - 1000;
      const feedback = async (session: string, taskSuccess: boolean) => {
        const r = await invoke(gw, 'bot', session);
        const res = await fetch(`${gw.url}/v1/feedback`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ requestId: r.requestId, taskSuccess }),
        });
        assert.equal(res.status, 200);
      };
      // Older requests: every task succeeded (their good feedback has arrived).
      for (const v of ['v1', 'v2']) for (const s of sessions[v]) await feedback(s, true);
      // Newer requests, from the next second on: the canary's failures were reported at once.
      const boundary = (Math.floor(Date.now() / 1000) + 1) * 1000;
      await waitFor('the next second', () => (Date.now() >= boundary ? true : undefined));
      for (const s of sessions.v2) await feedback(s, false);
      for (const s of sessions.v1) await feedback(s, true);

      const horizon = 5_000;
      const metrics = new GatewayMetricsSource({ url: gw.url, token: TOKEN });
      const router = new GatewayRouter({ url: gw.url, token: TOKEN });
      const acts = createActivities({ router, metrics, notifiers: () => [] });
      const plan = resolvePlan({
        agent: 'bot',
        stable: 'v1',
        canary: 'v2',
        analysis: { minSamples: 1, metrics: ['task_success_rate'], feedbackHorizon: '5s' },
      });
      // `until` a horizon past the boundary: the settled read ends at the boundary.
      const check = (analysis: typeof plan.analysis): Promise<CheckOutcome> =>
        new MockActivityEnvironment().run(acts.checkCanary, {
          agent: 'bot',
          stable: 'v1',
          canary: 'v2',
          since,
          until: boundary + horizon,
          analysis,
          judgeVersion: 4 as const,
          lease: { stable: 'v1', canary: 'v2', canaryWeight: 50, leaseMs: 60_000 },
        });
      const out = await check(plan.analysis);
      assert.equal(out.metrics, 'ok');
      if (out.metrics !== 'ok') return;
      const r = task(out.verdict);
      assert.equal(r.canary, 0.5, 'the whole window holds the new failures');
      assert.match(
        r.stats!.detail,
        /limits on requests older than 5s: task success 100% against 100% on stable/,
      );
      assert.deepEqual(
        r.stats?.guards?.map((g) => g.within),
        [true],
      );
      // The same check for a rollout started before the key reads the limit on every request.
      const { feedbackHorizonMs: _h, ...before } = plan.analysis;
      const old = await check(before);
      assert.ok(old.metrics === 'ok');
      if (old.metrics !== 'ok') return;
      assert.deepEqual(
        task(old.verdict).stats?.guards?.map((g) => g.within),
        [false],
      );
    } finally {
      await gw.close();
      await v1.close();
      await v2.close();
    }
  });
});
