// Test routes (docs/gates.md): a rollout on the dev server writes the plan's test routes to a real
// gateway; requests carrying the header or cookie reach the canary at a 1% stage, every one of them,
// and are counted apart from user traffic (the judge's metrics do not include them).
import assert from 'node:assert/strict';
import { resolvePlan } from '../src/plan';
import { GatewayRouter } from '../src/router/gateway';
import { sendCommand, startRollout } from '../src/temporal/rollouts';
import { statusQuery, workflowIdFor } from '../workflows/messages';
import { fakeDeps } from './fakes';
import { TOKEN, adminHeaders, gateway, startUpstream } from './gateway-support';
import { eventually, testEnv, uniqueName, withWorker } from './harness';

describe('test routes (dev server, real gateway)', function () {
  this.timeout(120_000);

  it('header and cookie reach the canary at any weight, counted apart and not judged', async () => {
    const v1 = await startUpstream('v1');
    const v2 = await startUpstream('v2');
    const agent = uniqueName('routes');
    const gw = await gateway({
      config: { agents: { [agent]: { stable: 'v1', versions: { v1: v1.url, v2: v2.url } } } },
    });
    const { deps, metrics } = fakeDeps();
    const { client } = testEnv();
    metrics.set(agent, { rps: 200 });
    const invoke = async (headers: Record<string, string> = {}) => {
      const res = await fetch(`${gw.url}/v1/agents/${agent}/invoke`, { method: 'POST', headers, body: '{}' });
      await res.arrayBuffer();
      return { version: res.headers.get('x-agent-version'), route: res.headers.get('x-agent-canary-route') };
    };
    try {
      await withWorker({ ...deps, router: new GatewayRouter({ url: gw.url, token: TOKEN }) }, async () => {
        const plan = resolvePlan({
          agent,
          stable: 'v1',
          canary: 'v2',
          stages: [{ weight: 1, observe: '1h' }, { weight: 100 }],
          analysis: { interval: '500ms', minSamples: 20, judge: 'thresholds' },
          leaseTtl: '30s',
          testRoutes: {
            match: [
              { header: 'X-Canary', value: 'always' },
              { cookie: 'canary', value: '1' },
            ],
          },
        });
        assert.deepEqual(plan.testRoutes!.match[0], { header: 'x-canary', value: 'always' });
        await startRollout(client, plan);
        const handle = client.workflow.getHandle(workflowIdFor(agent));
        await eventually(
          () => handle.query(statusQuery),
          (s) => s.canaryPercent === 1,
          { what: 'stage 1 at 1%' },
        );
        const from = Date.now() - 1_000;
        const tested = await Promise.all([
          ...Array.from({ length: 15 }, () => invoke({ 'x-canary': 'always' })),
          ...Array.from({ length: 15 }, () => invoke({ cookie: 'theme=dark; canary=1' })),
        ]);
        assert.ok(
          tested.every((r) => r.version === 'v2' && r.route === 'test'),
          JSON.stringify(tested.filter((r) => r.version !== 'v2')),
        );
        // Near misses are user traffic: routed by the weight (1%), not marked.
        const users = await Promise.all(
          Array.from({ length: 30 }, (_, i) =>
            invoke(i % 2 ? { 'x-canary': 'sometimes' } : { cookie: 'canary=0' }),
          ),
        );
        assert.ok(users.every((r) => r.route === null));
        assert.ok(users.filter((r) => r.version === 'v2').length <= 5, 'about 1% go to the canary');

        // Survives the lease renewals of later checks (the split is written whole each time).
        const checks = (await handle.query(statusQuery)).lastAnalysis?.at;
        await eventually(
          () => handle.query(statusQuery),
          (s) => s.lastAnalysis?.at !== checks,
          { what: 'another check (lease renewal)' },
        );
        assert.equal((await invoke({ 'x-canary': 'always' })).version, 'v2');

        const res = await fetch(
          `${gw.url}/v1/admin/agents/${agent}/metrics?since=${from}&until=${Date.now() + 1_000}`,
          {
            headers: adminHeaders(),
          },
        );
        const m = (await res.json()) as {
          versions: Record<string, { requests: number }>;
          testRoutes: Record<string, { requests: number }>;
        };
        assert.equal(m.testRoutes.v2.requests, 31, 'every test-routed request counted apart');
        const userCanary = users.filter((r) => r.version === 'v2').length;
        assert.equal(m.versions.v2.requests, userCanary, 'the judge sees user traffic only');

        await sendCommand(client, agent, 'abort', { reason: 'done', by: 'test' });
        // After the rollback nothing reaches the canary, test route or not.
        assert.equal((await invoke({ 'x-canary': 'always' })).version, 'v1');
      });
    } finally {
      await gw.close();
      await v1.close();
      await v2.close();
    }
  });
});
