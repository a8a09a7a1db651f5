// The gateway keeps metrics in memory: after a restart, the metrics source says from when it has
// data, so the rollout does not count the lost time as observed (see workflows/policy.ts).
import assert from 'node:assert/strict';
import { GatewayMetricsSource } from '../src/metrics/gateway';
import { TOKEN, twoVersionFixture } from './gateway-support';

describe('gateway metrics coverage', () => {
  const f = twoVersionFixture();

  it('reports the window as covered only from the gateway start', async () => {
    const source = new GatewayMetricsSource({ url: f.gw.url, token: TOKEN });
    const now = Date.now();
    const before = await source.fetch({
      agent: 'bot',
      stable: 'v1',
      canary: 'v2',
      since: now - 60_000,
      until: now,
    });
    assert.ok(
      before.coveredSince !== undefined && before.coveredSince > now - 60_000,
      JSON.stringify(before),
    );
    assert.ok(before.coveredSince <= now);
    const after = await source.fetch({
      agent: 'bot',
      stable: 'v1',
      canary: 'v2',
      since: before.coveredSince + 1,
      until: Date.now() + 1,
    });
    assert.equal(after.coveredSince, undefined, 'a window inside the gateway’s life is covered');
  });
});
