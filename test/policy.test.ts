// The rollout policy on its own: the pure reducer the workflow interprets, driven with a fake clock.
// No server, no timers: each test runs in milliseconds.
import assert from 'node:assert/strict';
import { judgeStatistical } from '../src/analysis';
import type { Verdict } from '../src/analysis/types';
import { healthy, windowOf } from './analysis-fixtures';
import { resolvePlan, type PlanInput, type ResolvedPlan } from '../src/plan';
import {
  initialState,
  percentOf,
  refusal,
  step,
  type Effect,
  type PolicyEvent,
  type PolicyState,
} from '../workflows/policy';

const verdict = (v: Verdict['verdict'], reason: string = v): Verdict => ({
  verdict: v,
  judge: 'thresholds',
  reason,
  metrics: [],
});

function plan(overrides: Partial<PlanInput> = {}): ResolvedPlan {
  return resolvePlan({
    agent: 'bot',
    stable: 'v1',
    canary: 'v2',
    stages: [{ weight: 5, observe: '10s' }, { weight: 50, observe: '10s' }, { weight: 100 }],
    analysis: { interval: '2s', failureLimit: 2, judge: 'thresholds', inconclusiveLimit: 3 },
    leaseTtl: '30s',
    notify: [{ type: 'log' }],
    progressDeadline: '10m',
    ...overrides,
  });
}

/** Drives the reducer like the workflow does, keeping the effects of every step. */
class Driver {
  s: PolicyState;
  now = 1_000_000;
  effects: Effect[] = [];
  last: Effect[] = [];
  wakeAt: number | null = null;
  constructor(readonly p: ResolvedPlan = plan()) {
    this.s = initialState(this.now);
  }
  send(event: PolicyEvent): Effect[] {
    const r = step(this.s, this.p, event, this.now);
    this.s = r.state;
    this.wakeAt = r.wakeAt;
    this.last = r.effects;
    this.effects.push(...r.effects);
    return r.effects;
  }
  at(ms: number) {
    this.now += ms;
    return this;
  }
  /** The op the policy waits on. */
  op(): number {
    assert.ok(this.s.inflight, 'an operation is in flight');
    return this.s.inflight.opId;
  }
  landWrite() {
    return this.send({ type: 'write_done', opId: this.op() });
  }
  checkResult(v: Verdict) {
    return this.send({ type: 'check_done', opId: this.op(), outcome: { metrics: 'ok', verdict: v } });
  }
  /** Sleeps until the policy's wake-up time and ticks. */
  sleep() {
    assert.ok(this.wakeAt !== null, 'the policy asked to be woken');
    this.now = this.wakeAt;
    return this.send({ type: 'tick' });
  }
  started() {
    this.send({ type: 'start' });
    this.landWrite();
    return this;
  }
}

const types = (fx: Effect[]) => fx.map((e) => e.type);
const writes = (fx: Effect[]) =>
  fx.flatMap((e) => (e.type === 'write' ? [`${e.write.purpose}:${e.write.weight}`] : []));

describe('rollout policy (pure reducer)', () => {
  it('starts by writing stage 1 and only counts the stage once the router confirmed it', () => {
    const d = new Driver();
    const fx = d.send({ type: 'start' });
    assert.deepEqual(writes(fx), ['stage:5']);
    assert.equal(percentOf(d.s), 0, 'no share is claimed before the router confirms it');
    d.at(5_000); // a slow router: its 5 s are not observation
    d.landWrite();
    assert.equal(percentOf(d.s), 5);
    assert.equal(d.s.observedMs, 0);
    assert.equal(d.wakeAt, d.now + 2_000, 'first check one interval after the split landed');
    const write = d.effects.find((e) => e.type === 'write');
    assert.ok(write && write.type === 'write' && write.leaseMs === 30_000 && write.decidedAt > 0);
  });

  it('checks every interval, moves on only after a passing check past the window, then promotes', () => {
    const d = new Driver().started();
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(types(d.sleep()), ['check']);
      d.checkResult(verdict('pass'));
    }
    // 10 s observed: the fifth passing check ended the window and asked for stage 2.
    assert.deepEqual(writes(d.last), ['stage:50']);
    assert.equal(d.s.stageIndex, 0, 'the stage moves only when the router confirms it');
    d.landWrite();
    assert.equal(d.s.stageIndex, 1);
    assert.ok(types(d.last).includes('notify'));
    for (let i = 0; i < 5; i++) {
      d.sleep();
      d.checkResult(verdict('pass'));
    }
    assert.deepEqual(writes(d.last), ['promote:0']);
    d.landWrite();
    assert.equal(d.s.state, 'promoted');
    assert.deepEqual(d.s.result, { state: 'promoted', stable: 'v2', reason: 'all 2 stages healthy' });
    assert.ok(types(d.last).includes('finish'));
  });

  it('thin data never moves a canary forward: inconclusive past the window pauses at the limit', () => {
    const d = new Driver().started();
    for (let i = 0; i < 5; i++) {
      d.sleep();
      d.checkResult(verdict('inconclusive'));
    }
    assert.equal(d.s.inconclusiveStreak, 1, 'only the check past the window counts');
    d.sleep();
    d.checkResult(verdict('inconclusive'));
    d.sleep();
    d.checkResult(verdict('inconclusive'));
    assert.equal(d.s.state, 'paused');
    assert.equal(d.s.stageIndex, 0);
    assert.equal(d.s.decisions.at(-1)?.action, 'inconclusive_streak');
  });

  it('rolls back after failureLimit failed checks, writing stable only', () => {
    const d = new Driver().started();
    d.sleep();
    d.checkResult(verdict('fail', 'errors up'));
    assert.deepEqual(writes(d.last), [], 'one failed check is below the limit');
    d.sleep();
    d.checkResult(verdict('fail', 'errors up'));
    assert.deepEqual(writes(d.last), ['stable:0']);
    d.landWrite();
    assert.equal(d.s.state, 'rolled_back');
    assert.equal(d.s.result?.reason, 'canary unhealthy: errors up');
  });

  it('an abort during a check drops the check and writes stable in the same step', () => {
    const d = new Driver().started();
    d.sleep();
    const checkOp = d.op();
    const fx = d.send({ type: 'command', command: { kind: 'abort', input: { reason: 'bad', by: 'ana' } } });
    assert.deepEqual(types(fx), ['drop', 'write']);
    assert.deepEqual(writes(fx), ['stable:0']);
    const stableWrite = fx[1] as Extract<Effect, { type: 'write' }>;
    // The late outcome of the dropped check is ignored...
    d.send({ type: 'check_done', opId: checkOp, outcome: { metrics: 'ok', verdict: verdict('pass') } });
    assert.equal(d.s.inflight?.opId, stableWrite.opId);
    assert.equal(refusal(d.s, { kind: 'pause', input: {} }), 'the rollout is being aborted (bad)');
    d.landWrite();
    assert.equal(d.s.state, 'aborted');
    assert.equal(d.s.decisions.at(-1)?.by, 'ana');
  });

  it('an abort while a stage write keeps failing replaces it; the stable write is what retries', () => {
    const d = new Driver();
    d.send({ type: 'start' });
    d.at(10_000);
    d.send({ type: 'op_failed', opId: d.op(), kind: 'outage', message: 'connection refused' });
    assert.deepEqual(writes(d.last), ['stage:5'], 'asks again after the activity gave up');
    assert.equal(d.s.inflight?.kind === 'write' && d.s.inflight.lastError, 'connection refused');
    const fx = d.send({ type: 'command', command: { kind: 'abort', input: { reason: 'stop' } } });
    assert.deepEqual(types(fx), ['drop', 'write']);
    d.send({ type: 'op_failed', opId: d.op(), kind: 'outage', message: 'connection refused' });
    assert.deepEqual(writes(d.last), ['stable:0']);
    d.landWrite();
    assert.equal(d.s.state, 'aborted');
  });

  it('a metrics outage is not evidence and its time is not observation', () => {
    const d = new Driver().started();
    d.sleep();
    d.checkResult(verdict('inconclusive'));
    assert.equal(d.s.observedMs, 2_000);
    d.sleep();
    d.send({ type: 'check_done', opId: d.op(), outcome: { metrics: 'outage', message: 'HTTP 503' } });
    assert.equal(d.s.observedMs, 2_000, 'the time since the last check with metrics is taken back');
    assert.equal(d.s.covered, false);
    assert.match(d.s.lastAnalysis!.reason, /metrics unavailable \(not evidence\): HTTP 503/);
    d.at(30_000).send({ type: 'tick' });
    assert.equal(d.s.observedMs, 2_000, 'the clock does not run without metrics');
    d.checkResult(verdict('pass'));
    assert.equal(d.s.covered, true);
    assert.equal(d.s.stageIndex, 0, 'the window is not done: 2 s observed of 10 s');
  });

  it('time the metrics source has no data for (a gateway restart) is not observation', () => {
    const d = new Driver().started();
    for (let i = 0; i < 4; i++) {
      d.sleep();
      d.checkResult(verdict('inconclusive'));
    }
    assert.equal(d.s.observedMs, 8_000);
    d.sleep();
    // The source restarted 1 s ago: 9 s of the 10 s window have no data behind them.
    d.send({
      type: 'check_done',
      opId: d.op(),
      outcome: { metrics: 'ok', verdict: verdict('pass'), coveredSince: d.now - 1_000 },
    });
    assert.equal(d.s.observedMs, 1_000);
    assert.deepEqual(writes(d.last), [], 'the window is not done: a pass on 1 s of data does not advance');
  });

  it('withdraws the canary when nobody can judge it: outages up to the limit roll back', () => {
    const d = new Driver().started();
    for (let i = 0; i < 3; i++) {
      d.sleep();
      d.send({ type: 'check_done', opId: d.op(), outcome: { metrics: 'outage', message: 'timeout' } });
    }
    assert.deepEqual(writes(d.last), ['stable:0']);
    d.landWrite();
    assert.equal(d.s.state, 'rolled_back');
    assert.match(d.s.result!.reason, /no metrics for 3 checks.*nobody can judge it/);
  });

  it('a configuration error withdraws the canary at once and ends as a failure with the cause', () => {
    const d = new Driver().started();
    d.sleep();
    d.send({ type: 'op_failed', opId: d.op(), kind: 'config', message: 'HTTP 401 wrong token' });
    assert.deepEqual(writes(d.last), ['stable:0']);
    d.landWrite();
    const finish = d.last.find((e) => e.type === 'finish');
    assert.ok(finish && finish.type === 'finish');
    assert.equal(finish.failure, 'HTTP 401 wrong token');
    assert.equal(d.s.state, 'rolled_back');
  });

  it('a router that refuses the agent fails the rollout with the router’s words', () => {
    const d = new Driver();
    d.send({ type: 'start' });
    d.send({ type: 'op_failed', opId: d.op(), kind: 'config', message: 'HTTP 404 unknown agent "bot"' });
    assert.deepEqual(writes(d.last), ['stable:0']);
    d.send({ type: 'op_failed', opId: d.op(), kind: 'config', message: 'HTTP 404 unknown agent "bot"' });
    const finish = d.last.find((e) => e.type === 'finish');
    assert.ok(finish && finish.type === 'finish');
    assert.equal(finish.failure, 'the router refused the split: HTTP 404 unknown agent "bot"');
  });

  it('pause stops the clocks at once, checks go on, and a clear failure still rolls back', () => {
    const d = new Driver().started();
    d.at(1_000).send({ type: 'command', command: { kind: 'pause', input: { by: 'bo' } } });
    assert.equal(d.s.state, 'paused');
    d.at(60_000).send({ type: 'tick' });
    assert.equal(d.s.observedMs, 1_000);
    d.checkResult(verdict('fail'));
    d.sleep();
    d.checkResult(verdict('fail'));
    assert.deepEqual(writes(d.last), ['stable:0']);
  });

  it('promote to 100% during a check drops the check and writes the promotion', () => {
    const d = new Driver().started();
    d.sleep();
    const fx = d.send({ type: 'command', command: { kind: 'promote', input: { full: true, by: 'cy' } } });
    assert.deepEqual(types(fx), ['drop', 'write']);
    assert.deepEqual(writes(fx), ['promote:0']);
    assert.equal(refusal(d.s, { kind: 'promote', input: {} }), 'a promotion is already under way');
    d.landWrite();
    assert.equal(d.s.state, 'promoted');
    assert.equal(d.s.decisions.at(-1)?.by, 'cy');
  });

  it('workflow cancellation ends like an abort, then reports itself cancelled', () => {
    const d = new Driver().started();
    d.sleep();
    assert.deepEqual(types(d.send({ type: 'cancelled' })), ['drop', 'write']);
    d.landWrite();
    const finish = d.last.find((e) => e.type === 'finish');
    assert.ok(finish && finish.type === 'finish' && finish.cancelled === true);
    assert.equal(d.s.state, 'aborted');
  });

  it('the progress deadline rolls back, counting only unpaused time', () => {
    const d = new Driver(
      plan({
        progressDeadline: '30s',
        analysis: { interval: '2s', judge: 'thresholds', inconclusiveLimit: 1000 },
      }),
    ).started();
    d.send({ type: 'command', command: { kind: 'pause', input: {} } });
    d.at(3_600_000).send({ type: 'tick' });
    assert.equal(d.s.state, 'paused', 'an hour paused is not progress time');
    d.checkResult(verdict('inconclusive'));
    d.send({ type: 'command', command: { kind: 'resume', input: {} } });
    for (let i = 0; i < 30 && !d.s.ending; i++) {
      if (d.s.inflight?.kind === 'check') d.checkResult(verdict('inconclusive'));
      else d.sleep();
    }
    assert.match(d.s.ending?.reason ?? '', /progress deadline exceeded \(30s\)/);
  });

  describe('rules 3 (judge-v3): evidence across stages, no pause, the deadline bounds a stage', () => {
    const statPlan = () =>
      plan({
        analysis: { interval: '2s', judge: 'statistical', metrics: ['error_rate'], inconclusiveLimit: 3 },
        progressDeadline: '1m',
      });
    const judged = (stableN: number, canaryN: number, p: ResolvedPlan) =>
      judgeStatistical(windowOf(healthy(stableN), healthy(canaryN)), p.analysis);
    const v3 = (p: ResolvedPlan) => {
      const d = new Driver(p);
      d.s = initialState(d.now, 3);
      return d.started();
    };

    it('carries the stage evidence into the next stage when its split lands', () => {
      const p = statPlan();
      const d = v3(p);
      for (let i = 0; i < 5; i++) {
        d.sleep();
        d.checkResult(judged(200_000, 10_000, p));
      }
      assert.deepEqual(writes(d.last), ['stage:50']);
      const evidence = d.s.evidence!.error_rate!;
      d.landWrite();
      assert.deepEqual(d.s.carried!.error_rate, evidence);
      assert.equal(d.s.evidence, undefined);
      // The next stage's first check adds to it.
      d.sleep();
      d.checkResult(judged(10_000, 10_000, p));
      assert.ok(d.s.evidence!.error_rate!.llr[0] < evidence.llr[0]);
    });

    it('thin data extends the stage without pausing, until the deadline leaves no room', () => {
      const p = statPlan();
      const d = v3(p);
      while (!d.s.ending) {
        d.sleep();
        if (d.s.inflight?.kind === 'check') d.checkResult(judged(2000, 50, p));
        assert.notEqual(d.s.state, 'paused', 'rules 3 never pause on thin data');
      }
      assert.match(d.s.ending.reason, /stage 1 could not show the canary healthy in time/);
      assert.match(d.s.ending.reason, /too few samples \(50 of 100 on the canary\)/);
      // Rolled back when the 10 s of stage 2 no longer fit in the 60 s deadline.
      assert.ok(d.s.activeMs >= 50_000 && d.s.activeMs < 60_000, `${d.s.activeMs}`);
    });

    it('a rollout without rules (started before judge-v3) still pauses on thin data', () => {
      const p = statPlan();
      const d = new Driver(p).started();
      for (let i = 0; i < 20 && d.s.state !== 'paused'; i++) {
        d.sleep();
        if (d.s.inflight?.kind === 'check') d.checkResult(judged(2000, 50, p));
      }
      assert.equal(d.s.state, 'paused');
      assert.equal(d.s.carried, undefined);
    });
  });
});

// ---- extend, dismiss, analysis.onFail (issue 16) -------------------------------------------------

/** A failed verdict naming the metrics that failed, as the judges report them. */
const failOn = (...metrics: ('error_rate' | 'p99_latency_ms')[]): Verdict => ({
  verdict: 'fail',
  judge: 'thresholds',
  reason: `${metrics.join(', ')} worse`,
  metrics: metrics.map((metric) => ({
    metric,
    stable: 0.01,
    canary: 0.2,
    stableSamples: 500,
    canarySamples: 500,
    status: 'fail' as const,
    reason: `${metric} worse`,
  })),
});
const cmd = (command: Extract<PolicyEvent, { type: 'command' }>['command']): PolicyEvent => ({
  type: 'command',
  command,
});

describe('rollout policy: extend, dismiss, pause on fail', () => {
  it('extend adds observation to the current stage only, and the next stage starts without it', () => {
    const d = new Driver().started();
    d.sleep();
    d.checkResult(verdict('pass'));
    d.send(cmd({ kind: 'extend', input: { duration: 6_000, by: 'ana', reason: 'quiet hour' } }));
    assert.equal(d.s.extendedMs, 6_000);
    const last = d.s.decisions.at(-1)!;
    assert.equal(last.action, 'extended');
    assert.equal(last.by, 'ana');
    assert.match(last.reason, /quiet hour: \+6s, stage window now 16s/);
    // 10 s of window would have ended after five passing checks; extended, it takes eight.
    for (let i = 0; i < 6; i++) {
      d.sleep();
      d.checkResult(verdict('pass'));
    }
    assert.deepEqual(writes(d.last), [], 'still observing at 14 s of 16 s');
    d.sleep();
    d.checkResult(verdict('pass'));
    assert.deepEqual(writes(d.last), ['stage:50']);
    d.landWrite();
    assert.equal(d.s.extendedMs, 0, 'the extension was for the stage that asked for it');
  });

  it('extend is refused with nothing observed yet, past the progress deadline, or above the stage limit', () => {
    const d = new Driver(plan({ progressDeadline: '1m' }));
    const ext = (duration: number) => ({ kind: 'extend' as const, input: { duration } });
    d.send({ type: 'start' });
    assert.match(refusal(d.s, ext(5_000), d.p)!, /nothing is being observed yet/);
    d.landWrite();
    assert.equal(refusal(d.s, ext(40_000), d.p), null);
    assert.match(refusal(d.s, ext(60_000), d.p)!, /past the progress deadline \(1m of 1m left\)/);
    assert.match(refusal(d.s, ext(8 * 24 * 3_600_000), d.p)!, /above the limit of 168h/);
    // A refused Signal changes nothing.
    d.send(cmd(ext(60_000)));
    assert.equal(d.s.extendedMs ?? 0, 0);
    d.send(cmd({ kind: 'abort', input: { reason: 'stop' } }));
    assert.match(refusal(d.s, ext(1_000), d.p)!, /being aborted/);
  });

  it('dismiss clears failed checks and starts the window again on fresh data', () => {
    const d = new Driver().started();
    d.sleep();
    d.checkResult(verdict('pass'));
    d.sleep();
    d.checkResult(failOn('error_rate'));
    assert.equal(d.s.failedChecks, 1);
    assert.equal(refusal(d.s, { kind: 'resume', input: {} }), 'the rollout is not paused');
    d.sleep(); // a check in flight judges the data being dismissed: it is dropped
    const fx = d.send(cmd({ kind: 'dismiss', input: { by: 'ana', reason: 'known blip' } }));
    assert.deepEqual(types(fx), ['drop']);
    assert.equal(d.s.failedChecks, 0);
    assert.equal(d.s.observedMs, 0);
    assert.equal(d.s.stageStartedAt, d.now, 'the judge sees only data from now on');
    assert.equal(d.wakeAt, d.now + 1_000, 'checks again within half an interval (the lease)');
    const last = d.s.decisions.at(-1)!;
    assert.equal(last.action, 'dismissed');
    assert.match(last.reason, /known blip \(1 failed check cleared; the stage's window starts again\)/);
    // Another failure counts from zero: one is below the limit of two.
    d.sleep();
    d.checkResult(failOn('error_rate'));
    assert.deepEqual(writes(d.last), []);
    assert.equal(d.s.state, 'progressing');
  });

  it('dismiss with nothing failed is refused', () => {
    const d = new Driver().started();
    assert.equal(
      refusal(d.s, { kind: 'dismiss', input: {} }),
      'there is nothing to dismiss: no check failed in this stage',
    );
  });

  it('without onFail, failures still roll back exactly as before (old plans, old histories)', () => {
    const p = plan({ analysis: { interval: '2s', failureLimit: 1, judge: 'thresholds' } });
    assert.equal(p.analysis.onFail, undefined);
    const d = new Driver(p).started();
    d.sleep();
    d.checkResult(failOn('error_rate'));
    assert.deepEqual(writes(d.last), ['stable:0']);
  });

  it('onFail pause: the failure pauses, keeps the share and judging; a second failure rolls back', () => {
    const p = plan({
      analysis: { interval: '2s', failureLimit: 1, judge: 'thresholds', onFail: { error_rate: 'pause' } },
    });
    const d = new Driver(p).started();
    d.sleep();
    d.checkResult(failOn('error_rate'));
    assert.deepEqual(writes(d.last), [], 'no stable write: paused instead');
    assert.equal(d.s.state, 'paused');
    assert.equal(percentOf(d.s), 5, 'the canary keeps its share while a person decides');
    assert.deepEqual(d.s.pausedOnFail?.metrics, ['error_rate']);
    assert.deepEqual(
      d.s.decisions.slice(-2).map((x) => x.action),
      ['check_failed', 'paused_on_fail'],
    );
    assert.ok(d.last.some((e) => e.type === 'notify' && e.event === 'paused'));
    assert.match(refusal(d.s, { kind: 'resume', input: {} })!, /paused on a failed check: `dismiss`/);
    // Still judged while paused: passing checks change nothing, the next failure rolls back.
    assert.deepEqual(types(d.sleep()), ['check']);
    d.checkResult(verdict('pass'));
    assert.equal(d.s.state, 'paused');
    d.sleep();
    d.checkResult(failOn('error_rate'));
    assert.deepEqual(writes(d.last), ['stable:0']);
    d.landWrite();
    assert.equal(d.s.state, 'rolled_back');
    assert.match(d.s.result!.reason, /unhealthy again while paused on a failed check/);
  });

  it('onFail pause then dismiss: progressing again, the pause lifted, judged afresh', () => {
    const p = plan({
      analysis: { interval: '2s', failureLimit: 1, judge: 'thresholds', onFail: { default: 'pause' } },
    });
    const d = new Driver(p).started();
    d.sleep();
    d.checkResult(failOn('p99_latency_ms'));
    assert.equal(d.s.state, 'paused');
    d.send(cmd({ kind: 'dismiss', input: { by: 'ana' } }));
    assert.equal(d.s.state, 'progressing');
    assert.equal(d.s.pausedOnFail, null);
    assert.match(d.s.decisions.at(-1)!.reason, /pause on failure lifted/);
    assert.ok(d.last.some((e) => e.type === 'notify' && e.event === 'resumed'));
    d.sleep();
    d.checkResult(failOn('p99_latency_ms'));
    assert.equal(d.s.state, 'paused', 'a new failure after dismiss pauses again (onFail)');
  });

  it('one failing metric that rolls back is enough to roll back', () => {
    const p = plan({
      analysis: { interval: '2s', failureLimit: 1, judge: 'thresholds', onFail: { p99_latency_ms: 'pause' } },
    });
    const d = new Driver(p).started();
    d.sleep();
    d.checkResult(failOn('p99_latency_ms', 'error_rate'));
    assert.deepEqual(writes(d.last), ['stable:0']);
  });

  it('a plan naming an unknown metric in onFail is refused, naming the field', () => {
    assert.throws(
      () => plan({ analysis: { onFail: { eror_rate: 'pause' } } }),
      /analysis\.onFail\.eror_rate: is not a judged metric/,
    );
    assert.throws(() => plan({ analysis: { onFail: { error_rate: 'stop' as never } } }), /rollback or pause/);
  });

  it('a retried run records who retried it and why as its first decision', () => {
    const d = new Driver();
    d.send({ type: 'start', retry: { by: 'ana', reason: 'fixed the prompt', previousRunId: 'run-1' } });
    assert.deepEqual(
      { by: d.s.decisions[0].by, reason: d.s.decisions[0].reason },
      { by: 'ana', reason: 'retry of run run-1: fixed the prompt' },
    );
  });
});

describe('analysis.onFail with custom metrics', () => {
  const costPerTask = {
    name: 'costPerTask',
    kind: 'mean',
    direction: 'lower',
    minEffect: 0.01,
    thresholds: { maxRelativeIncrease: 1.2 },
    query: {
      sum: 'sum(increase(agent_task_cost_usd_sum{version="{{version}}"}[{{window}}]))',
      count: 'sum(increase(agent_task_cost_usd_count{version="{{version}}"}[{{window}}]))',
      buckets: 'sum by (le) (increase(agent_task_cost_usd_bucket{version="{{version}}"}[{{window}}]))',
    },
  };

  it('names a custom metric, and a failure on it alone pauses', () => {
    const p = plan({
      analysis: {
        interval: '2s',
        failureLimit: 1,
        judge: 'thresholds',
        custom: [costPerTask],
        onFail: { costPerTask: 'pause' },
      } as never,
    });
    assert.deepEqual(p.analysis.onFail, { costPerTask: 'pause' });
    const d = new Driver(p).started();
    d.sleep();
    const v = failOn('error_rate');
    v.metrics[0] = { ...v.metrics[0], metric: 'costPerTask' as never };
    d.checkResult(v);
    assert.equal(d.s.state, 'paused');
    assert.deepEqual(d.s.pausedOnFail?.metrics, ['costPerTask']);
    assert.throws(
      () => plan({ analysis: { custom: [costPerTask], onFail: { costPerTsk: 'pause' } } as never }),
      /analysis\.onFail\.costPerTsk: is not a judged metric \(judged: .*costPerTask\)/,
    );
  });
});

describe('deferred checks (one activity per check, cadence anchored to the stage start)', () => {
  class DeferredDriver extends Driver {
    constructor(p: ResolvedPlan = plan()) {
      super(p);
      this.s = initialState(this.now, 3, 'deferred');
    }
    /** The check in flight, as the workflow hands it to its activity. */
    pending(): Extract<Effect, { type: 'check' }> {
      const e = [...this.effects].reverse().find((x) => x.type === 'check');
      assert.ok(e && e.type === 'check' && e.opId === this.op(), 'a deferred check is in flight');
      return e;
    }
  }

  it('hands the next check out as soon as one is done, due on the grid of the stage start, with no timer', () => {
    const d = new DeferredDriver();
    d.send({ type: 'start' });
    d.at(300).landWrite();
    const start = d.s.stageStartedAt;
    let c = d.pending();
    assert.equal(c.at, start + 2_000, 'due one interval after the split landed');
    assert.equal(c.until, c.at, 'the window it judges ends when it is due');
    assert.equal(d.wakeAt, null, 'no timer while the check waits in its activity');
    // The check ran 400 ms late and took a while: the next one is still due at 4 s, not 2.4 s + 2 s.
    d.now = start + 2_400;
    d.checkResult(verdict('pass'));
    c = d.pending();
    assert.equal(c.at, start + 4_000);
    // A check that overran a whole interval skips to the next slot ahead instead of piling up.
    d.now = start + 6_500;
    d.checkResult(verdict('pass'));
    assert.equal(d.pending().at, start + 8_000);
    assert.equal(d.wakeAt, null);
  });

  it('the end of the window gets its own check when it falls between two slots', () => {
    const d = new DeferredDriver(
      plan({ stages: [{ weight: 5, observe: '5s' }, { weight: 50, observe: '10s' }, { weight: 100 }] }),
    );
    d.started();
    const start = d.s.stageStartedAt;
    for (const due of [2_000, 4_000]) {
      assert.equal(d.pending().at, start + due);
      d.now = start + due;
      d.checkResult(verdict('pass'));
    }
    assert.equal(d.pending().at, start + 5_000, 'the window ends at 5 s: checked then');
    d.now = start + 5_000;
    const fx = d.checkResult(verdict('pass'));
    assert.deepEqual(writes(fx), ['stage:50'], 'a passing check at the end of the window moves on');
  });

  it('an abort drops the waiting check and writes stable at once', () => {
    const d = new DeferredDriver().started();
    const waiting = d.op();
    const fx = d.send({ type: 'command', command: { kind: 'abort', input: { reason: 'bad answers' } } });
    assert.deepEqual(types(fx), ['drop', 'write']);
    assert.equal((fx[0] as Extract<Effect, { type: 'drop' }>).opId, waiting);
    assert.deepEqual(writes(fx), ['stable:0']);
    // The dropped check's late answer changes nothing.
    d.send({ type: 'check_done', opId: waiting, outcome: { metrics: 'ok', verdict: verdict('fail') } });
    assert.equal(d.s.failedChecks, 0);
  });

  it('before continuing as new, the waiting check is given up; the new run asks for it due at the same time', () => {
    const d = new DeferredDriver().started();
    const due = d.pending().at;
    const fx = d.send({ type: 'suspend' });
    assert.deepEqual(types(fx), ['drop']);
    assert.equal(d.s.inflight, null, 'nothing in flight is carried');
    d.at(50);
    const next = d.send({ type: 'continued' });
    assert.deepEqual(types(next), ['check']);
    assert.equal((next[0] as Extract<Effect, { type: 'check' }>).at, due);
  });

  it('rollouts without the flag keep the timer and the cadence from the end of the last check', () => {
    const d = new Driver().started();
    assert.equal(d.s.checks, undefined);
    assert.deepEqual(types(d.sleep()), ['check']);
    const c = d.effects.at(-1) as Extract<Effect, { type: 'check' }>;
    assert.equal(c.at, undefined);
    d.at(700).checkResult(verdict('pass'));
    assert.equal(d.wakeAt, d.now + 2_000);
  });
});
