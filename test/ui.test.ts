// The dashboard's API against real rollouts on the suite's dev server: outcome badges that tell
// promoted, rolled back, aborted, paused and terminated apart; a rollout's checks read back from
// history as a time series; commands that need the token and validate every field.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { TASK_QUEUE, WORKFLOW_TYPE, workflowIdFor, type RolloutState } from '../workflows/messages';
import { listedState } from '../src/temporal/rollouts';
import { allowedCommands, type RolloutDetail, type RolloutRow } from '../src/ui/data';
import { badgeFor, outcomeOf } from '../src/ui/outcome';
import { eventually, testEnv } from './harness';
import { saveHistory } from './support/histories';
import { longPlan, startUiStack, type UiStack } from './ui-support';

describe('dashboard outcome badges', () => {
  it('tell every way a rollout ends apart, with the execution status first', () => {
    assert.equal(outcomeOf('RUNNING', 'progressing'), 'progressing');
    assert.equal(outcomeOf('RUNNING', 'paused'), 'paused');
    assert.equal(outcomeOf('COMPLETED', 'promoted'), 'promoted');
    assert.equal(outcomeOf('COMPLETED', 'rolled_back'), 'rolled_back');
    assert.equal(outcomeOf('COMPLETED', 'aborted'), 'aborted');
    // Terminate runs no workflow code: the published state still says progressing.
    assert.equal(outcomeOf('TERMINATED', 'progressing'), 'terminated');
    assert.equal(outcomeOf('FAILED', 'progressing'), 'failed');
    // agent-canary's own endings (docs/web-ui.md): rolled back as Failed, aborted as Canceled.
    assert.equal(outcomeOf('FAILED', 'rolled_back'), 'rolled_back');
    assert.equal(outcomeOf('CANCELLED', 'aborted'), 'aborted');
    assert.equal(outcomeOf('CANCELED', 'aborted'), 'aborted');
    assert.equal(outcomeOf('CANCELLED', 'progressing'), 'canceled');
    const tones = new Set(
      (['promoted', 'rolled_back', 'paused', 'progressing'] as const).map(
        (s) => badgeFor(s === 'paused' || s === 'progressing' ? 'RUNNING' : 'COMPLETED', s).tone,
      ),
    );
    assert.equal(tones.size, 4, 'good, bad, warn and live look different');
    assert.deepEqual(allowedCommands('paused'), ['resume', 'extend', 'promote', 'abort']);
    assert.deepEqual(allowedCommands('promoted'), []);
    // Paused on a failed check: the workflow refuses resume; dismiss lifts it (docs/gates.md).
    const held = {
      at: '2026-12-05T12:00:00.000Z',
      metrics: ['error_rate'],
      reason: 'error_rate failed',
      holds: true,
    };
    assert.deepEqual(allowedCommands('paused', { pausedOnFail: held, failedChecks: 1 }), [
      'dismiss',
      'extend',
      'promote',
      'abort',
    ]);
    assert.deepEqual(allowedCommands('progressing', { failedChecks: 1 }), [
      'pause',
      'dismiss',
      'extend',
      'promote',
      'abort',
    ]);
    assert.deepEqual(allowedCommands('progressing', { failedChecks: 0 }), [
      'pause',
      'extend',
      'promote',
      'abort',
    ]);
  });
});

describe('list rows name how a run ended (listedState, for `agent-canary list`)', () => {
  it('says rolled back and aborted for the endings the rollout chose, the Temporal status otherwise', () => {
    const named = (status: string, state: RolloutState | null) => listedState({ status, state });
    assert.equal(named('RUNNING', 'paused'), 'paused');
    assert.equal(named('COMPLETED', 'aborted'), 'aborted', 'runs from before outcomeStatus');
    assert.equal(named('FAILED', 'rolled_back'), 'rolled_back');
    assert.equal(named('CANCELLED', 'aborted'), 'aborted');
    // The state terminate left behind is stale: the status says what happened.
    assert.equal(named('TERMINATED', 'progressing'), 'terminated');
    assert.equal(named('FAILED', 'progressing'), 'failed');
  });
});

describe('agent-canary ui: the API', function () {
  this.timeout(180_000);
  let stack: UiStack;
  const ids: Record<string, string> = {};
  const get = async <T>(path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${stack.dashboard.url}${path}`, { headers });
    return { status: res.status, body: (await res.json()) as T & { error?: string } };
  };
  const post = async (path: string, body: unknown, token: string | null = stack.token) => {
    const res = await fetch(`${stack.dashboard.url}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { error?: string; problems?: unknown[] } };
  };
  const row = async (key: string) => {
    const r = await get<{ rollouts: RolloutRow[] }>('/api/rollouts');
    return r.body.rollouts.find((x) => x.workflowId === ids[key]);
  };
  const detail = async (key: string) =>
    (await get<RolloutDetail>(`/api/rollouts/${encodeURIComponent(ids[key])}`)).body;

  before(async function () {
    this.timeout(120_000);
    stack = await startUiStack({
      good: { name: 'ui-good' },
      bad: { name: 'ui-bad', regressed: true },
      held: { name: 'ui-held' },
      term: { name: 'ui-term' },
      cont: { name: 'ui-cont' },
    });
    for (const key of Object.keys(stack.agents)) ids[key] = workflowIdFor(stack.agents[key]);
    await Promise.all([
      stack.start('good'),
      stack.start('bad'),
      stack.start('held', longPlan),
      stack.start('term', longPlan),
      // A rollout long enough in events to continue as new: its page must still hold every check.
      testEnv().client.workflow.start(WORKFLOW_TYPE, {
        args: [longPlan(stack.agents.cont), { continueAsNewAfterEvents: 60 }],
        taskQueue: TASK_QUEUE,
        workflowId: ids.cont,
      }),
    ]);
  });
  after(async () => {
    await testEnv()
      .client.workflow.getHandle(ids.cont ?? 'none')
      .terminate('ui test over')
      .catch(() => undefined);
    await stack?.stop();
  });

  it('refuses commands without the right token, and bad input naming the field', async () => {
    await eventually(
      () => detail('held'),
      (d) => d.history.checks.length > 0,
      {
        timeoutMs: 30_000,
        what: 'a first check',
      },
    );
    const base = `/api/rollouts/${ids.held}`;
    assert.equal((await post(`${base}/pause`, {}, null)).status, 401);
    assert.equal((await post(`${base}/pause`, {}, 'x'.repeat(24))).status, 401);
    const extra = await post(`${base}/pause`, { reason: 'x', sudo: true });
    assert.equal(extra.status, 400);
    assert.match(extra.body.error!, /body/);
    const long = await post(`${base}/pause`, { by: 'a'.repeat(201) });
    assert.equal(long.status, 400);
    assert.match(long.body.error!, /body\.by: at most 200/);
    const noReason = await post(`${base}/abort`, {});
    assert.equal(noReason.status, 400);
    assert.match(noReason.body.error!, /reason: an abort needs a reason/);
    assert.equal((await post(`${base}/explode`, {})).status, 400);
    assert.equal((await post(`${base}/pause`, '{not json')).status, 400);
    assert.equal((await post('/api/rollouts/..%2Fetc/pause', {})).status, 400);
    // fetch() cannot set Host; a DNS-rebinding page's request carries its own site's name there.
    const rebinding = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${stack.dashboard.url}/api/rollouts`,
        { headers: { host: 'evil.example' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(rebinding, 421);
    assert.equal((await get('/api/rollouts/canary-no-such-agent-ui')).status, 404);
    // Each API route takes its own method; a path the API does not have is a 404, not a 405.
    assert.equal((await get(`${base}/pause`)).status, 405);
    assert.equal((await post('/api/rollouts', {})).status, 405);
    assert.equal((await post(base, {})).status, 405);
    assert.equal((await get('/api/agents')).status, 404);
    assert.equal((await get(`${base}/pause/now`)).status, 404);
    const d = await detail('held');
    assert.equal(d.badge.outcome, 'progressing', 'nothing above reached the workflow');
  });

  it('pauses, then aborts with who and why in the ledger, and the badges follow', async () => {
    const base = `/api/rollouts/${ids.held}`;
    const paused = await post(`${base}/pause`, { by: 'alice', reason: 'looking at traces' });
    assert.equal(paused.status, 200, JSON.stringify(paused.body));
    await eventually(
      () => row('held'),
      (r) => r?.badge.outcome === 'paused',
      { timeoutMs: 20_000, what: 'paused in the list' },
    );
    const again = await post(`${base}/pause`, { by: 'alice' });
    assert.equal(again.status, 409, 'pause on a paused rollout is refused');
    assert.match(again.body.error!, /possible now: resume, extend, promote, abort/);
    // extend and dismiss go through the workflow's own admission rule, as from the CLI.
    const extended = await post(`${base}/extend`, { by: 'alice', duration: '10m' });
    assert.equal(extended.status, 200, JSON.stringify(extended.body));
    assert.equal((extended.body as { status?: { extendedMs?: number } }).status?.extendedMs, 600_000);
    const noDuration = await post(`${base}/extend`, { by: 'alice' });
    assert.equal(noDuration.status, 400, JSON.stringify(noDuration.body));
    const dismissed = await post(`${base}/dismiss`, { by: 'alice' });
    assert.equal(dismissed.status, 409, JSON.stringify(dismissed.body));
    assert.match(dismissed.body.error!, /nothing to dismiss: no check failed in this stage/);
    const aborted = await post(`${base}/abort`, { by: 'bob', reason: 'bad answers in #support' });
    assert.equal(aborted.status, 200, JSON.stringify(aborted.body));
    const d = await eventually(
      () => detail('held'),
      (x) => x.badge.outcome === 'aborted',
      {
        timeoutMs: 20_000,
        what: 'aborted badge',
      },
    );
    const who = d.decisions.map((x) => `${x.action}:${x.by}`);
    assert.ok(who.includes('paused:alice'), who.join(' '));
    assert.ok(who.includes('aborted:bob'), who.join(' '));
    assert.ok(d.decisions.some((x) => x.reason.includes('looking at traces')));
    assert.deepEqual(d.commands, [], 'no buttons on a finished rollout');
    await eventually(
      () => row('held'),
      (r) => r?.badge.outcome === 'aborted',
      { timeoutMs: 20_000, what: 'aborted in the list' },
    );
  });

  it('shows a terminated rollout as terminated, not as progressing', async () => {
    await testEnv().client.workflow.getHandle(ids.term).terminate('ui test: terminated by hand');
    const r = await eventually(
      () => row('term'),
      (x) => x?.badge.outcome === 'terminated',
      { timeoutMs: 20_000, what: 'terminated in the list' },
    );
    assert.equal(r?.state, 'progressing', 'visibility still holds the last published state');
    const d = await detail('term');
    assert.equal(d.badge.outcome, 'terminated');
    assert.equal(d.history.ending?.kind, 'terminated');
    assert.match(d.history.ending?.reason ?? '', /terminated by hand/);
  });

  it('reads each check from history as a point per metric, for promoted and rolled-back runs', async () => {
    const good = await eventually(
      () => detail('good'),
      (d) => d.badge.outcome === 'promoted',
      {
        timeoutMs: 120_000,
        intervalMs: 1_000,
        what: 'the healthy canary promoted',
      },
    );
    const bad = await eventually(
      () => detail('bad'),
      (d) => d.badge.outcome === 'rolled_back',
      {
        timeoutMs: 60_000,
        intervalMs: 1_000,
        what: 'the regressed canary rolled back',
      },
    );
    // A judge-v4 rollout (conversations as the unit) on real session traffic, replayed in CI.
    await saveHistory('v6-judge-v4-rolled-back', testEnv().client.workflow.getHandle(ids.bad));
    assert.ok(good.history.checks.length >= 4, `checks: ${good.history.checks.length}`);
    const percents = new Set(good.history.checks.map((c) => c.percent));
    assert.deepEqual([...percents].sort(), [20, 50], 'checks in both canary stages');
    for (const c of good.history.checks) {
      assert.equal(c.metrics.length, 4);
      assert.ok(Date.parse(c.at) >= Date.parse(c.since));
    }
    // Stages: planned against actual, both canary stages run, promotion reached.
    assert.deepEqual(
      good.stages.map((s) => [s.weight, Boolean(s.startedAt)]),
      [
        [20, true],
        [50, true],
        [100, true],
      ],
    );
    assert.ok(good.stages[0].endedAt && good.stages[0].checks.pass >= 1);
    const errors = bad.history.checks.flatMap((c) => c.metrics.filter((m) => m.metric === 'error_rate'));
    assert.ok(
      errors.some((m) => m.status === 'fail' && (m.canary ?? 0) > (m.stable ?? 0)),
      `a failing error-rate point with the canary above stable; seen: ${errors
        .map((m) => `${m.status} ${m.canary}/${m.stable}: ${m.reason}`)
        .join(' | ')
        .slice(0, 3000)}`,
    );
    assert.ok(bad.decisions.some((d) => d.action === 'rolled_back'));
    const rows = await get<{ rollouts: RolloutRow[] }>('/api/rollouts');
    const mine = rows.body.rollouts.filter((x) => Object.values(ids).includes(x.workflowId));
    const outcomes = Object.fromEntries(mine.map((x) => [x.workflowId, x.badge.outcome]));
    assert.equal(outcomes[ids.good], 'promoted');
    assert.equal(outcomes[ids.bad], 'rolled_back');
  });

  it('follows a rollout through continue-as-new: one row, the checks of every run on its page', async () => {
    const d = await eventually(
      () => detail('cont'),
      (x) => x.history.runIds.length >= 2 && x.history.checks.at(-1)!.at > x.startTime,
      { timeoutMs: 60_000, intervalMs: 1_000, what: 'a second run with a check of its own' },
    );
    assert.equal(d.badge.outcome, 'progressing');
    const checks = d.history.checks.map((c) => c.at);
    assert.ok(checks[0] < d.startTime, 'checks of the first run are on the page of the latest');
    assert.ok(checks.at(-1)! > d.startTime, 'and those of the latest run');
    assert.equal(d.history.plan?.agent, stack.agents.cont, 'the plan from the first run');
    assert.ok(
      d.decisions.some((x) => x.action === 'stage_started'),
      'decisions carried across runs',
    );
    const rows = (await get<{ rollouts: RolloutRow[] }>('/api/rollouts')).body.rollouts;
    assert.equal(
      rows.filter((r) => r.workflowId === ids.cont).length,
      1,
      'the handed-over runs are not listed',
    );
  });
});
