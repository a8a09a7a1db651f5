// Preflight before a rollout starts, run by a worker with its own backends: a real gateway (agent,
// versions, upstreams) and a metrics source, and the CLI refusing to start with one line per problem.
import assert from 'node:assert/strict';
import { resolvePlan } from '../src/plan';
import { GatewayMetricsSource } from '../src/metrics/gateway';
import { GatewayRouter } from '../src/router/gateway';
import { TASK_QUEUE } from '../src/contract';
import { preflightRollout, workerPolls } from '../src/temporal/rollouts';
import { createNotifiers } from '../src/notify';
import { fakeDeps } from './fakes';
import { TOKEN, gateway, startUpstream, twoVersionConfig } from './gateway-support';
import { eventually, testEnv, uniqueName, withWorker } from './harness';

const plan = (agent: string, stable = 'v1', canary = 'v2') =>
  resolvePlan({ agent, stable, canary, stages: [{ weight: 5, observe: '1m' }, { weight: 100 }] });

describe('preflight', function () {
  this.timeout(60_000);

  it('passes for a gateway that knows the agent and versions whose upstreams answer', async () => {
    const v1 = await startUpstream('v1');
    const v2 = await startUpstream('v2');
    const gw = await gateway({ config: twoVersionConfig(v1, v2) });
    try {
      const deps = {
        router: new GatewayRouter({ url: gw.url, token: TOKEN }),
        metrics: new GatewayMetricsSource({ url: gw.url, token: TOKEN }),
        notifiers: () => createNotifiers([]),
      };
      await withWorker(deps, async () => {
        const { client } = testEnv();
        // The server lists a worker once it has polled: a worker started a moment ago may not have.
        await eventually(() => workerPolls(client, TASK_QUEUE), Boolean, { what: 'the worker polling' });
        assert.deepEqual(await preflightRollout(client, plan('bot')), { problems: [] });

        // One line per problem, each naming it: an unknown version, a dead upstream, an unknown agent.
        await v2.close();
        const bad = await preflightRollout(client, plan('bot', 'v1', 'v3'));
        assert.match(
          bad.problems.join('\n'),
          /canary version "v3" is not configured for bot \(configured: v1, v2\)/,
        );
        assert.doesNotMatch(bad.problems.join('\n'), /"v1"/, 'the stable version is fine');
        const dead = await preflightRollout(client, plan('bot'));
        assert.match(
          dead.problems.join('\n'),
          /canary version "v2" of bot does not answer at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
        );
        const unknown = await preflightRollout(client, plan('nobody'));
        assert.match(unknown.problems.join('\n'), /has no agent "nobody"/);
        assert.match(unknown.problems.join('\n'), /has no agent "nobody"/);
      });
    } finally {
      await gw.close();
      await v1.close();
      await v2.close();
    }
  });

  it('names refused metrics credentials', async () => {
    const { deps, metrics } = fakeDeps();
    const agent = uniqueName('preflight-401');
    metrics.set(agent, { refuse: true });
    await withWorker(deps, async () => {
      const r = await preflightRollout(testEnv().client, plan(agent));
      assert.deepEqual(r.problems, ['metrics: HTTP 401 wrong token (test)']);
    });
  });

  it('says when no worker would carry the rollout out', async () => {
    const r = await preflightRollout(testEnv().client, plan(uniqueName('preflight-noworker')), {
      taskQueue: uniqueName('nobody-polls'),
    });
    assert.match(
      r.problems[0],
      /no worker polls task queue "nobody-polls-[^"]+": nobody would carry the rollout out/,
    );
  });
});
