// preflight() of the gateway backends against a real gateway: what would stop a rollout, one line
// per problem, before it starts; a gateway that cannot be reached at all throws.
import assert from 'node:assert/strict';
import net from 'node:net';
import type { RunningGateway } from '../src/gateway';
import { GatewayMetricsSource } from '../src/metrics/gateway';
import { GatewayRouter } from '../src/router/gateway';
import { TOKEN, gateway, startUpstream, twoVersionConfig, type Upstream } from './gateway-support';

describe('gateway backends: preflight', () => {
  let v1: Upstream;
  let v2: Upstream;
  let gw: RunningGateway;
  before(async () => {
    v1 = await startUpstream('v1');
    v2 = await startUpstream('v2');
    gw = await gateway({ config: twoVersionConfig(v1, v2) });
  });
  after(async () => {
    await gw.close();
    await v1.close();
    await v2.close();
  });

  const both = (token: string) => [
    new GatewayRouter({ url: gw.url, token }),
    new GatewayMetricsSource({ url: gw.url, token }),
  ];

  it('is empty when the token, the agent and both versions are right', async () => {
    for (const b of both(TOKEN))
      assert.deepEqual(await b.preflight('bot', { stable: 'v1', canary: 'v2' }), []);
  });

  it('names each problem: token, agent, versions', async () => {
    for (const b of both('wrong')) {
      const [line] = await b.preflight('bot', { stable: 'v1', canary: 'v2' });
      assert.match(line, /admin token/);
    }
    for (const b of both(TOKEN)) {
      assert.match((await b.preflight('nope', { stable: 'v1', canary: 'v2' })).join('\n'), /"nope"/);
      const lines = await b.preflight('bot', { stable: 'v0', canary: 'v9' });
      assert.equal(lines.length, 2, lines.join('\n'));
      assert.match(lines[0], /"v0".*stable|stable.*"v0"/);
      assert.match(lines[1], /"v9"/);
      assert.ok(
        lines.every((l) => l.includes('v1') && l.includes('v2')),
        'each names what is configured',
      );
    }
  });

  it('throws when the gateway cannot be reached', async () => {
    // A port that was free a moment ago (fetch refuses "bad ports" such as 9 before connecting).
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const router = new GatewayRouter({ url: `http://127.0.0.1:${port}`, token: TOKEN, timeoutMs: 2000 });
    await assert.rejects(router.preflight('bot', { stable: 'v1', canary: 'v2' }), /connection refused/);
  });
});
