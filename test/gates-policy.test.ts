// Gates in the pure policy (docs/gates.md): a pause on a failed check that holds for a person,
// approval gates, and the hooks at Flagger's points. No server: each test runs in milliseconds.
import assert from 'node:assert/strict';
import type { MetricResult, Verdict } from '../src/analysis/types';
import { resolvePlan, type PlanInput, type ResolvedPlan } from '../src/plan';
import { clearWorsening, WORSENING_FACTOR } from '../workflows/hold';
import {
  initialState,
  percentOf,
  refusal,
  step,
  type Command,
  type Effect,
  type PolicyEvent,
  type PolicyState,
} from '../workflows/policy';

function plan(overrides: Partial<PlanInput> = {}): ResolvedPlan {
  return resolvePlan({
    agent: 'bot',
    stable: 'v1',
    canary: 'v2',
    stages: [{ weight: 5, observe: '10s' }, { weight: 50, observe: '10s' }, { weight: 100 }],
    analysis: { interval: '2s', failureLimit: 1, judge: 'thresholds', metrics: ['error_rate'] },
    leaseTtl: '30s',
    notify: [{ type: 'log' }],
    progressDeadline: '10m',
    ...overrides,
  });
}

class Driver {
  s: PolicyState;
  now = 1_000_000;
  last: Effect[] = [];
  wakeAt: number | null = null;
  constructor(
    readonly p: ResolvedPlan,
    gates = true,
  ) {
    this.s = initialState(this.now, undefined, undefined, gates ? 1 : undefined);
  }
  send(event: PolicyEvent): Effect[] {
    const r = step(this.s, this.p, event, this.now);
    this.s = r.state;
    this.wakeAt = r.wakeAt;
    this.last = r.effects;
    return r.effects;
  }
  op(): number {
    assert.ok(this.s.inflight, 'an operation is in flight');
    return this.s.inflight.opId;
  }
  landWrite() {
    return this.send({ type: 'write_done', opId: this.op() });
  }
  check(v: Verdict) {
    return this.send({ type: 'check_done', opId: this.op(), outcome: { metrics: 'ok', verdict: v } });
  }
  hook(ok: boolean, reason = ok ? 'ok' : 'hook smoke: HTTP 500: broken') {
    return this.send({ type: 'hook_done', opId: this.op(), ok, reason });
  }
  sleep() {
    assert.ok(this.wakeAt !== null, 'the policy asked to be woken');
    this.now = this.wakeAt;
    return this.send({ type: 'tick' });
  }
  command(command: Command) {
    return this.send({ type: 'command', command });
  }
}

const metric = (canary: number, status: MetricResult['status'] = 'fail'): MetricResult => ({
  metric: 'error_rate',
  stable: 0.01,
  canary,
  stableSamples: 1000,
  canarySamples: 1000,
  status,
  reason: `error_rate ${canary}`,
});
const errors = (canary: number, v: Verdict['verdict'] = 'fail'): Verdict => ({
  verdict: v,
  judge: 'thresholds',
  reason: `error_rate ${canary} against 0.01`,
  metrics: [metric(canary, v === 'pass' ? 'pass' : v === 'fail' ? 'fail' : 'inconclusive')],
});
const writes = (fx: Effect[]) =>
  fx.flatMap((e) => (e.type === 'write' ? [`${e.write.purpose}:${e.write.weight}`] : []));
const notified = (fx: Effect[]) => fx.flatMap((e) => (e.type === 'notify' ? [e.event] : []));
const hooks = (fx: Effect[]) => fx.flatMap((e) => (e.type === 'hook' ? [e.hook] : []));

const held = (extra: Record<string, unknown> = {}) =>
  plan({
    analysis: {
      interval: '2s',
      failureLimit: 1,
      judge: 'thresholds',
      metrics: ['error_rate'],
      onFail: { default: 'pause', ...extra },
    },
  });

/** Started, first stage in place, the first check failed at 4% errors against 1%: paused. */
function pausedAt4(p: ResolvedPlan): Driver {
  const d = new Driver(p);
  d.send({ type: 'start' });
  d.landWrite();
  d.sleep();
  d.check(errors(0.04));
  assert.equal(d.s.state, 'paused');
  return d;
}

describe('gates: a pause on a failed check holds for a person', () => {
  it('the same regression again keeps it paused, judged on the data since the pause only', () => {
    const d = pausedAt4(held());
    assert.deepEqual(notified(d.last), ['paused_on_fail']);
    assert.equal(percentOf(d.s), 5, 'the canary keeps its share');
    const pausedAt = d.now;
    for (let i = 0; i < 20; i++) {
      const fx = d.sleep();
      const check = fx.find((e) => e.type === 'check');
      assert.ok(check && check.type === 'check');
      assert.equal(check.since, pausedAt, 'judges the data since the pause');
      d.check(errors(0.04));
      assert.equal(d.s.state, 'paused', `still paused after ${i + 1} failing checks`);
    }
    assert.equal(
      d.s.decisions.filter((x) => x.action === 'check_failed').length,
      1,
      'a held pause does not repeat the same failure as decisions',
    );
    assert.match(refusal(d.s, { kind: 'resume', input: {} })!, /`dismiss`.*`promote`.*`abort`/);
  });

  it('a clearly worse canary is still rolled back: markedly larger regression, or a guardrail', () => {
    // No absolute limit here, so that only the size of the regression decides.
    const relative = held();
    relative.analysis.thresholds.error_rate = { maxRelativeIncrease: 2 };
    // 4% -> 6%: the regression (0.05) is under twice the pausing one (0.03): still paused.
    const d = pausedAt4(relative);
    d.sleep();
    d.check(errors(0.06));
    assert.equal(d.s.state, 'paused');
    // 4% -> 8%: 0.07 >= 2 x 0.03 on the new data alone: rolled back at once, stable only.
    d.sleep();
    d.check(errors(0.08));
    assert.deepEqual(writes(d.last), ['stable:0']);
    d.landWrite();
    assert.equal(d.s.state, 'rolled_back');
    assert.equal(percentOf(d.s), 0);
    assert.match(d.s.result!.reason, /markedly worse while paused/);

    // A guardrail breach rolls back even when the regression is not twice as large.
    const p = held();
    p.analysis.thresholds.error_rate = { maxAbsolute: 0.05 };
    const g = pausedAt4(p);
    assert.equal(
      clearWorsening(p, g.s.pausedOnFail!, errors(0.055)),
      'absolute guardrail breached while paused: error_rate 0.055 is above its absolute limit 0.05',
    );
    assert.ok(0.055 - 0.01 < WORSENING_FACTOR * 0.03);
  });

  it('waits until onFail.timeout, then rolls back saying why', () => {
    const d = pausedAt4(held({ timeout: '30s' }));
    const pausedAt = d.now;
    while (d.s.state === 'paused' && d.now < pausedAt + 60_000) {
      if (d.s.inflight?.kind === 'check') d.check(errors(0.04));
      else if (d.s.inflight?.kind === 'write') d.landWrite();
      else d.sleep();
    }
    assert.ok(
      d.now >= pausedAt + 30_000 && d.now <= pausedAt + 32_000,
      `rolled back at ${d.now - pausedAt}ms`,
    );
    assert.match(
      d.s.ending?.reason ?? d.s.result?.reason ?? '',
      /nobody acted \(analysis\.onFail\.timeout\)/,
    );
  });

  it('the progress deadline still runs while it holds', () => {
    const d = pausedAt4(held());
    const left = d.p.progressDeadlineMs - d.s.activeMs;
    for (let i = 0; i < 2000 && !d.s.ending && !d.s.result; i++) {
      if (d.s.inflight?.kind === 'check') d.check(errors(0.04));
      else d.sleep();
    }
    assert.ok(d.s.ending, `activeMs ${d.s.activeMs} now ${d.now} ${d.s.state} ${JSON.stringify(d.s.result)}`);
    assert.match(d.s.ending!.reason, /progress deadline exceeded/);
    assert.ok(d.s.activeMs >= left);
  });

  it('dismiss notifies dismissed and progresses; promote moves on and progresses', () => {
    const d = pausedAt4(held());
    d.command({ kind: 'dismiss', input: { by: 'ana' } });
    assert.equal(d.s.state, 'progressing');
    assert.deepEqual(notified(d.last), ['dismissed']);

    const e = pausedAt4(held());
    e.command({ kind: 'promote', input: { by: 'ben' } });
    assert.deepEqual(writes(e.last), ['stage:50']);
    e.landWrite();
    assert.equal(e.s.state, 'progressing');
    assert.equal(e.s.pausedOnFail, null);
  });

  it('runs started before the patch keep the old rule: a second failed check rolls back', () => {
    const d = new Driver(held(), false);
    d.send({ type: 'start' });
    d.landWrite();
    d.sleep();
    d.check(errors(0.04));
    assert.deepEqual(notified(d.last), ['paused']);
    d.sleep();
    d.check(errors(0.04));
    assert.deepEqual(writes(d.last), ['stable:0']);
  });
});

describe('gates: approval', () => {
  const gated = () =>
    plan({
      stages: [{ weight: 5, observe: '4s', approval: true }, { weight: 50, observe: '4s' }, { weight: 100 }],
    });

  it('a healthy stage waits for approve, then moves on at once, recorded with who', () => {
    const d = new Driver(gated());
    d.send({ type: 'start' });
    d.landWrite();
    for (let i = 0; i < 5; i++) {
      d.sleep();
      d.check(errors(0.01, 'pass'));
    }
    assert.equal(d.s.stageIndex, 0, 'not advanced without approval');
    assert.ok(d.s.awaitingApproval);
    assert.equal(d.s.decisions.filter((x) => x.action === 'awaiting_approval').length, 1);
    const before = d.s.activeMs;
    d.sleep();
    d.check(errors(0.01, 'pass'));
    assert.equal(d.s.activeMs, before, 'waiting for a person does not spend the progress deadline');
    d.command({ kind: 'approve', input: { by: 'U123 (slack)', reason: 'looks good' } });
    assert.deepEqual(writes(d.last), ['stage:50']);
    assert.deepEqual(notified(d.last), ['approved']);
    const approved = d.s.decisions.find((x) => x.action === 'approved')!;
    assert.equal(approved.by, 'U123 (slack)');
    d.landWrite();
    assert.equal(d.s.approved, null, 'an approval is for its stage only');
    assert.match(refusal(d.s, { kind: 'approve', input: {} }, d.p)!, /stage 2 has no approval gate/);
  });

  it('with deferred checks, approve moves a waiting stage on at once (the waiting check is dropped)', () => {
    const d = new Driver(gated());
    d.s = { ...d.s, checks: 'deferred' };
    d.send({ type: 'start' });
    d.landWrite();
    for (let i = 0; i < 10 && !d.s.awaitingApproval; i++) {
      d.now += 2_000; // the deferred check's time
      d.check(errors(0.01, 'pass'));
    }
    assert.ok(d.s.awaitingApproval);
    assert.equal(d.s.inflight?.kind, 'check', 'the next check waits for its time');
    const fx = d.command({ kind: 'approve', input: { by: 'ana' } });
    assert.deepEqual(
      fx.filter((e) => e.type === 'drop' || e.type === 'write').map((e) => e.type),
      ['drop', 'write'],
    );
    assert.deepEqual(writes(fx), ['stage:50']);
  });

  it('a failing check still rolls back a stage waiting for approval', () => {
    const d = new Driver(gated());
    d.send({ type: 'start' });
    d.landWrite();
    for (let i = 0; i < 3; i++) {
      d.sleep();
      d.check(errors(0.01, 'pass'));
    }
    assert.ok(d.s.awaitingApproval);
    d.sleep();
    d.check(errors(0.2));
    assert.deepEqual(writes(d.last), ['stable:0']);
  });

  it('approve is refused where there is no gate, twice, or in runs before the patch', () => {
    const d = new Driver(plan());
    d.send({ type: 'start' });
    assert.match(refusal(d.s, { kind: 'approve', input: {} }, d.p)!, /no approval gate/);
    const g = new Driver(gated());
    g.send({ type: 'start' });
    g.command({ kind: 'approve', input: { by: 'ana' } });
    assert.match(refusal(g.s, { kind: 'approve', input: {} }, g.p)!, /already approved \(by ana\)/);
    const old = new Driver(gated(), false);
    old.send({ type: 'start' });
    assert.match(refusal(old.s, { kind: 'approve', input: {} }, old.p)!, /no approval gates/);
  });

  it('a plan may not put approval on the promotion', () => {
    assert.throws(
      () =>
        plan({
          stages: [
            { weight: 5, observe: '4s' },
            { weight: 100, approval: true },
          ],
        }),
      /stages\.1\.approval: the last stage is the promotion/,
    );
  });
});

describe('gates: hooks at the Flagger points', () => {
  const hook = (type: string, name = type) => ({
    name,
    type: type as never,
    url: 'http://127.0.0.1:1/hook',
    secret: 'a-secret-of-sixteen+',
  });
  const hooked = (...types: string[]) => plan({ hooks: types.map((t) => hook(t)) });

  it('pre-rollout runs before any traffic; its failure is a failed check with the answer, no traffic', () => {
    const d = new Driver(hooked('pre-rollout', 'post-rollout', 'rollback'));
    const fx = d.send({ type: 'start' });
    assert.deepEqual(hooks(fx), ['pre-rollout']);
    assert.deepEqual(writes(fx), [], 'no split before the hook answered');
    d.hook(false, 'hook smoke: HTTP 503: load test failed');
    assert.deepEqual(writes(d.last), ['stable:0']);
    const failed = d.s.decisions.find((x) => x.action === 'hook_failed')!;
    assert.match(failed.reason, /pre-rollout hook failed \(1\/1\): hook smoke: HTTP 503: load test failed/);
    d.landWrite();
    assert.equal(d.s.state, 'rolled_back');
    assert.match(d.s.result!.reason, /before any user traffic/);
    assert.deepEqual(hooks(d.last), ['rollback', 'post-rollout'], 'told after the stable write');
  });

  it('pre-rollout that passes lets the first split go; confirm hooks gate each move', () => {
    const d = new Driver(hooked('pre-rollout', 'confirm-traffic-increase', 'confirm-promotion'));
    d.send({ type: 'start' });
    d.hook(true);
    assert.deepEqual(writes(d.last), ['stage:5']);
    d.landWrite();
    for (let i = 0; i < 5 && d.s.inflight?.kind !== 'hook'; i++) {
      d.sleep();
      d.check(errors(0.01, 'pass'));
    }
    assert.deepEqual(hooks(d.last), ['confirm-traffic-increase']);
    d.hook(true);
    assert.deepEqual(writes(d.last), ['stage:50']);
    d.landWrite();
    for (let i = 0; i < 5 && d.s.inflight?.kind !== 'hook'; i++) {
      d.sleep();
      d.check(errors(0.01, 'pass'));
    }
    assert.deepEqual(hooks(d.last), ['confirm-promotion']);
    d.hook(false, 'hook release-window: HTTP 409: outside the release window');
    assert.deepEqual(writes(d.last), ['stable:0']);
    assert.match(d.s.ending!.reason, /confirm-promotion hook failed, canary withdrawn: .*release window/);
  });

  it('with a failure limit above 1, a failed pre-rollout hook is asked again after an interval', () => {
    const p = hooked('pre-rollout');
    p.analysis.failureLimit = 2;
    const d = new Driver(p);
    d.send({ type: 'start' });
    d.hook(false);
    assert.deepEqual(writes(d.last), []);
    const fx = d.sleep();
    assert.deepEqual(hooks(fx), ['pre-rollout']);
    assert.ok(d.now >= 1_000_000 + p.analysis.intervalMs);
    d.hook(true);
    assert.deepEqual(writes(d.last), ['stage:5']);
  });

  it('an abort while a hook is called drops it and writes stable', () => {
    const d = new Driver(hooked('pre-rollout'));
    d.send({ type: 'start' });
    const fx = d.command({ kind: 'abort', input: { reason: 'no', by: 'ana' } });
    assert.deepEqual(
      fx.map((e) => e.type),
      ['drop', 'write'],
    );
  });

  it('hooks are checked in the plan: a secret, a known type, distinct names', () => {
    assert.throws(
      () => plan({ hooks: [{ name: 'x', type: 'pre-rollout', url: 'http://h/' } as never] }),
      /hooks\.0\.secret: give secret, or secretEnv/,
    );
    assert.throws(() => plan({ hooks: [hook('confirm-rollout')] }), /hooks\.0\.type: must be one of/);
    assert.throws(
      () => plan({ hooks: [hook('rollback', 'a'), hook('rollback', 'a')] }),
      /hook names must differ/,
    );
  });
});
