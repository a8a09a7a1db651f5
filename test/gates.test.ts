// Gates on the dev server (docs/gates.md): the pause on a failed check that holds for a person, an
// approval gate opened by an Update, and hooks served by a local HTTP server that checks their
// signatures. Windows of about a second; every condition polled.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolvePlan, type PlanInput, type ResolvedPlan } from '../src/plan';
import { verifySignature } from '../src/signing';
import { startRollout } from '../src/temporal/rollouts';
import { rolloutDetail } from '../src/ui/data';
import { statusQuery, workflowIdFor, type Decision, type RolloutStatus } from '../workflows/messages';
import { cli } from './cli-support';
import { HEALTHY, fakeDeps } from './fakes';
import { eventually, testEnv, uniqueName, withWorker } from './harness';
import { saveHistory } from './support/histories';

const SECRET = 'hook-secret-0123456789';

function testPlan(agent: string, overrides: Partial<PlanInput> = {}): ResolvedPlan {
  return resolvePlan({
    agent,
    stable: 'v1',
    canary: 'v2',
    stages: [{ weight: 10, observe: '1s' }, { weight: 100 }],
    analysis: { interval: '300ms', minSamples: 20, judge: 'thresholds', failureLimit: 1 },
    leaseTtl: '30s',
    progressDeadline: '1h',
    ...overrides,
  });
}

const status = (agent: string) =>
  testEnv().client.workflow.getHandle(workflowIdFor(agent)).query(statusQuery);
const until = (agent: string, pred: (s: RolloutStatus) => boolean, what: string, timeoutMs = 30_000) =>
  eventually(() => status(agent), pred, { what, timeoutMs, intervalMs: 100 });
const actions = (s: RolloutStatus) => s.decisions.map((d) => d.action);
const lastOf = (s: RolloutStatus, action: Decision['action']) =>
  s.decisions.filter((d) => d.action === action).at(-1);

interface HookHit {
  path: string;
  type: string;
  body: { type: string; hook: string; agent: string; weight: number; metadata: Record<string, string> };
  signed: boolean;
}

/** A hook receiver: answers per path (status and body), records each call with its signature check. */
async function hookServer(answers: Record<string, { status: number; body?: string }>) {
  const hits: HookHit[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const signed = verifySignature({
        secret: SECRET,
        body: raw,
        timestamp: req.headers['x-agent-canary-timestamp'] as string | undefined,
        signature: req.headers['x-agent-canary-signature'] as string | undefined,
      });
      hits.push({
        path: req.url ?? '',
        type: String(req.headers['x-agent-canary-hook']),
        body: JSON.parse(raw) as HookHit['body'],
        signed,
      });
      const a = answers[req.url ?? ''] ?? { status: 200 };
      res.writeHead(signed ? a.status : 401, { 'content-type': 'text/plain' });
      res.end(signed ? (a.body ?? 'ok') : 'bad signature');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { hits, base, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('gates on the dev server', function () {
  this.timeout(120_000);

  it('a pause on a failed check holds until a person acts, and a clearly worse canary still rolls back', async () => {
    const { deps, metrics, router } = fakeDeps();
    const { client } = testEnv();
    // The scenario: 4% errors against 1%, the statistical judge, minEffect 0.015.
    const analysis = {
      interval: '500ms',
      minSamples: 20,
      metrics: ['error_rate' as const],
      minEffect: { error_rate: 0.015 },
      onFail: { default: 'pause' as const },
    };
    const held = uniqueName('held');
    const timed = uniqueName('held-timeout');
    for (const agent of [held, timed])
      metrics.set(agent, { rps: 400, canary: { ...HEALTHY, errorRate: 0.04 } });
    await withWorker(deps, async () => {
      const a = await startRollout(
        client,
        testPlan(held, { stages: [{ weight: 10, observe: '1h' }, { weight: 100 }], analysis }),
      );
      const b = await startRollout(
        client,
        testPlan(timed, {
          stages: [{ weight: 10, observe: '1h' }, { weight: 100 }],
          analysis: { ...analysis, onFail: { default: 'pause', timeout: '4s' } },
        }),
      );
      const paused = await until(held, (s) => !!s.pausedOnFail, 'paused on the failed check');
      assert.equal(paused.pausedOnFail!.holds, true);
      assert.equal(paused.canaryPercent, 10);
      const pausedAt = Date.parse(paused.pausedOnFail!.at);
      // Held through several more checks that fail on the same regression.
      const later = await until(
        held,
        (s) => !!s.lastAnalysis && Date.parse(s.lastAnalysis.at) >= pausedAt + 2_500,
        'five more checks while paused',
      );
      assert.equal(later.state, 'paused', later.decisions.map((d) => d.reason).join('\n'));
      assert.equal(router.canaryWeight(held), 10, 'the canary keeps its share');
      // The dashboard offers what the workflow takes while it holds: dismiss, not resume.
      const view = await rolloutDetail(client, workflowIdFor(held));
      assert.ok(
        view.commands.includes('dismiss') && !view.commands.includes('resume'),
        view.commands.join(', '),
      );
      // Clearly worse while paused: 20% errors is beyond the absolute limit (5%): rolled back now.
      metrics.set(held, { canary: { ...HEALTHY, errorRate: 0.2 } });
      const ra = await a.result();
      assert.equal(ra.state, 'rolled_back');
      assert.match(
        ra.reason,
        /absolute guardrail breached while paused: error_rate .* above its absolute limit 0\.05/,
      );
      assert.equal(router.canaryWeight(held), 0, 'all traffic back on stable');
      await saveHistory('v4-paused-on-fail-held-rolled-back', client.workflow.getHandle(workflowIdFor(held)));

      // Nobody acts: rolled back at onFail.timeout, saying why.
      const rb = await b.result();
      assert.equal(rb.state, 'rolled_back');
      assert.match(rb.reason, /nobody acted \(analysis\.onFail\.timeout\)/);
      const sb = await status(timed);
      const pausedB = Date.parse(lastOf(sb, 'paused_on_fail')!.at);
      const endedB = Date.parse(lastOf(sb, 'rolled_back')!.at);
      assert.ok(endedB - pausedB >= 4_000, `held ${endedB - pausedB}ms, at least the 4s timeout`);
      assert.equal(router.canaryWeight(timed), 0);
    });
  });

  it('hooks at the Flagger points (signed), an approval gate opened by an Update, recorded with who', async () => {
    const hooks = await hookServer({
      '/pre-fail': { status: 503, body: '{"message":"load test failed: p99 9s"}' },
    });
    const { deps, metrics, router } = fakeDeps();
    const { client } = testEnv();
    const hook = (name: string, type: string, path = `/${name}`) => ({
      name,
      type: type as never,
      url: `${hooks.base}${path}`,
      secret: SECRET,
      timeout: '2s',
      retries: 0,
      metadata: { team: 'support' },
    });
    const gated = uniqueName('gated');
    const refusedAgent = uniqueName('pre-fails');
    for (const agent of [gated, refusedAgent]) metrics.set(agent, { rps: 200 });
    try {
      await withWorker(deps, async () => {
        const started = await startRollout(
          client,
          testPlan(gated, {
            stages: [{ weight: 10, observe: '1s', approval: true }, { weight: 100 }],
            hooks: [
              hook('smoke', 'pre-rollout'),
              hook('window', 'confirm-promotion'),
              hook('cleanup', 'post-rollout'),
              hook('page', 'rollback'),
            ],
          }),
        );
        const refusedRun = await startRollout(
          client,
          testPlan(refusedAgent, { hooks: [hook('smoke', 'pre-rollout', '/pre-fail')] }),
        );

        // A failing pre-rollout hook: a failed check with the hook's answer, no user traffic at all.
        const rr = await refusedRun.result();
        assert.equal(rr.state, 'rolled_back');
        assert.match(
          rr.reason,
          /pre-rollout hook failed before any user traffic.*HTTP 503: load test failed: p99 9s/,
        );
        assert.ok(
          !router.writes.some((w) => w.agent === refusedAgent && w.desired.canaryWeight > 0),
          'the canary never had a share',
        );

        const waiting = await until(gated, (s) => !!s.approval?.waitingSince, 'stage 1 healthy, waiting');
        assert.equal(waiting.stageIndex, 0);
        assert.equal(waiting.approval!.approvedBy, null);
        assert.ok(actions(waiting).includes('awaiting_approval'));
        assert.ok(hooks.hits.some((h) => h.body.agent === gated && h.type === 'pre-rollout'));
        // The CLI's approve verb (an Update), recorded with who.
        const { address, namespace } = testEnv();
        const out = await cli(['approve', gated, '--by', 'ana', '--reason', 'read the transcripts'], {
          env: { TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: namespace },
        });
        assert.equal(out.code, 0, out.stderr);
        assert.match(out.stdout, /^approved the current stage of /);
        const approved = await status(gated);
        assert.equal(lastOf(approved, 'approved')?.by, 'ana');
        const result = await started.result();
        assert.equal(result.state, 'promoted');
        assert.equal(router.splits.get(gated)?.stable, 'v2');
        await eventually(
          () => hooks.hits.filter((h) => h.body.agent === gated).map((h) => h.type),
          (types) => types.includes('post-rollout'),
          { what: 'the post-rollout hook' },
        );
        const mine = hooks.hits.filter((h) => h.body.agent === gated);
        assert.deepEqual(
          mine.map((h) => h.type),
          ['pre-rollout', 'confirm-promotion', 'post-rollout'],
          'no rollback hook on a promotion',
        );
        assert.ok(
          mine.every((h) => h.signed),
          'every hook call is signed as notifications are',
        );
        assert.deepEqual(mine[0].body.metadata, { team: 'support' });
        assert.equal(mine[1].body.weight, 100);
        const rolledBackHooks = hooks.hits.filter((h) => h.body.agent === refusedAgent).map((h) => h.type);
        assert.deepEqual(rolledBackHooks, ['pre-rollout']);
        await saveHistory('v4-gates-approved-hooks', client.workflow.getHandle(workflowIdFor(gated)));
      });
    } finally {
      await hooks.close();
    }
  });
});
