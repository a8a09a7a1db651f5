import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningGateway } from '../src/gateway';
import {
  TOKEN,
  adminHeaders,
  gateway,
  getSplit,
  invoke,
  pool,
  putSplit,
  startUpstream,
  twoVersionConfig,
  waitFor,
  type Upstream,
} from './gateway-support';

describe('gateway admin API', () => {
  let v1: Upstream;
  let v2: Upstream;
  let gw: RunningGateway | undefined;

  beforeEach(async () => {
    v1 = await startUpstream('v1');
    v2 = await startUpstream('v2');
  });
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
    await v1.close();
    await v2.close();
  });

  it('refuses missing and wrong tokens on every admin route, changing nothing', async () => {
    gw = await gateway({ config: twoVersionConfig(v1, v2) });
    const before = await getSplit(gw, 'bot');
    const split = { stable: 'v1', canary: 'v2', canaryWeight: 50, leaseMs: 60_000 };
    for (const headers of [
      {},
      { authorization: 'Bearer nope' },
      { authorization: TOKEN },
      adminHeaders(TOKEN + 'x'),
    ]) {
      for (const [method, path] of [
        ['PUT', '/split'],
        ['GET', '/split'],
        ['GET', '/metrics'],
      ]) {
        const res = await fetch(`${gw.url}/v1/admin/agents/bot${path}`, {
          method,
          headers: { 'content-type': 'application/json', ...headers },
          body: method === 'PUT' ? JSON.stringify(split) : undefined,
        });
        assert.equal(res.status, 401, `${method} ${path} with ${JSON.stringify(headers)}`);
        assert.match(((await res.json()) as { error: string }).error, /token/);
      }
    }
    assert.deepEqual(await getSplit(gw, 'bot'), before);
    const r = await invoke(gw, 'bot', 's1');
    assert.equal(r.version, 'v1');
  });

  it('refuses unknown agents, unknown versions and invalid weights with a reason, changing nothing', async () => {
    gw = await gateway({ config: twoVersionConfig(v1, v2) });
    const good = { stable: 'v1', canary: 'v2', canaryWeight: 5, leaseMs: 60_000 };
    assert.equal((await putSplit(gw, 'bot', good)).status, 200);
    const before = await getSplit(gw, 'bot');

    const cases: [string, unknown, number, RegExp][] = [
      ['nobody', good, 404, /unknown agent "nobody"/],
      ['bot', { ...good, canary: 'v3' }, 400, /canary: unknown version "v3"/],
      ['bot', { ...good, stable: 'v0' }, 400, /stable: unknown version "v0"/],
      ['bot', { ...good, canaryWeight: 101 }, 400, /canaryWeight/],
      ['bot', { ...good, canaryWeight: -1 }, 400, /canaryWeight/],
      ['bot', { ...good, canaryWeight: '10' }, 400, /canaryWeight/],
      ['bot', { ...good, canary: 'v1' }, 400, /canary: must differ from stable/],
      ['bot', { ...good, canary: null }, 400, /canaryWeight: must be 0 when there is no canary/],
      ['bot', { ...good, leaseMs: null }, 400, /leaseMs: a canary share needs a lease/],
      ['bot', { ...good, leaseMs: 0 }, 400, /leaseMs/],
    ];
    for (const [agent, body, status, reason] of cases) {
      const r = await putSplit(gw, agent, body);
      assert.equal(r.status, status, JSON.stringify(body));
      assert.match(String(r.body.error), reason);
    }
    const notJson = await fetch(`${gw.url}/v1/admin/agents/bot/split`, {
      method: 'PUT',
      headers: adminHeaders(),
      body: '{not json',
    });
    assert.equal(notJson.status, 400);
    assert.match(((await notJson.json()) as { error: string }).error, /not valid JSON/);

    assert.deepEqual(await getSplit(gw, 'bot'), before);
  });

  it('keeps the split across a restart (data dir)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gw-data-'));
    const config = twoVersionConfig(v1, v2);
    gw = await gateway({ config, dataDir });
    const applied = await putSplit(gw, 'bot', {
      stable: 'v1',
      canary: 'v2',
      canaryWeight: 12.5,
      leaseMs: 600_000,
    });
    assert.equal(applied.status, 200);
    await gw.close();
    const onDisk = JSON.parse(readFileSync(join(dataDir, 'splits.json'), 'utf8'));
    assert.equal(onDisk.splits.bot.canaryWeight, 12.5);

    gw = await gateway({ config, dataDir });
    const after = await getSplit(gw, 'bot');
    assert.deepEqual(after, applied.body);
    // And it is really applied to traffic, not just reported.
    const results = await pool(400, 16, () => invoke(gw!, 'bot'));
    assert.ok(results.some((r) => r.version === 'v2'));

    // Promotion is permanent: no lease, survives a restart too.
    const promoted = await putSplit(gw, 'bot', {
      stable: 'v2',
      canary: null,
      canaryWeight: 0,
      leaseMs: null,
    });
    assert.equal(promoted.status, 200);
    assert.equal(promoted.body.leaseExpiresAt, null);
    await gw.close();
    gw = await gateway({ config, dataDir });
    assert.equal((await getSplit(gw, 'bot')).stable, 'v2');
    assert.equal((await invoke(gw, 'bot', 'any')).version, 'v2');
  });

  it('returns to 100% stable by itself when the lease is not renewed, and says why', async () => {
    gw = await gateway({ config: twoVersionConfig(v1, v2), leaseSweepMs: 100 });
    const split = { stable: 'v1', canary: 'v2', canaryWeight: 100, leaseMs: 1500 };
    const set = await putSplit(gw, 'bot', split);
    assert.equal(set.status, 200);
    assert.equal((await invoke(gw, 'bot')).version, 'v2');

    // Renewing (writing the same split again) moves the expiry forward.
    await new Promise((r) => setTimeout(r, 300));
    const renewed = await putSplit(gw, 'bot', split);
    assert.ok((renewed.body.leaseExpiresAt as number) > (set.body.leaseExpiresAt as number));

    const lapsed = await waitFor(
      'the lease to lapse',
      async () => {
        const s = await getSplit(gw!, 'bot');
        return s.canary === null ? s : undefined;
      },
      8000,
    );
    assert.ok(Date.now() >= (renewed.body.leaseExpiresAt as number));
    assert.equal(lapsed.canaryWeight, 0);
    assert.equal(lapsed.stable, 'v1');
    assert.match(String(lapsed.note), /lease expired .* canary v2 \(100%\) withdrawn/);
    const results = await pool(50, 10, () => invoke(gw!, 'bot'));
    assert.ok(results.every((r) => r.version === 'v1'));
    const metrics = await fetch(`${gw.url}/metrics`).then((r) => r.text());
    assert.match(metrics, /agent_canary_canary_weight\{agent="bot"\} 0\n/);
  });

  it('a stored split naming a version the config dropped falls back to stable at start', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gw-data-'));
    gw = await gateway({ config: twoVersionConfig(v1, v2), dataDir });
    await putSplit(gw, 'bot', { stable: 'v1', canary: 'v2', canaryWeight: 30, leaseMs: 600_000 });
    await gw.close();
    gw = await gateway({ config: { agents: { bot: { stable: 'v1', versions: { v1: v1.url } } } }, dataDir });
    const s = await getSplit(gw, 'bot');
    assert.equal(s.stable, 'v1');
    assert.equal(s.canary, null);
    assert.match(String(s.note), /version missing from the config/);
    assert.equal((await invoke(gw, 'bot')).version, 'v1');
  });

  it('a lease that lapsed while the gateway was down is not revived at start', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gw-data-'));
    const config = twoVersionConfig(v1, v2);
    gw = await gateway({ config, dataDir });
    await putSplit(gw, 'bot', { stable: 'v1', canary: 'v2', canaryWeight: 100, leaseMs: 300 });
    await gw.close();
    await new Promise((r) => setTimeout(r, 400)); // the lease is 300 ms: outlive it while down
    gw = await gateway({ config, dataDir });
    assert.equal((await invoke(gw, 'bot')).version, 'v1');
    const s = await getSplit(gw, 'bot');
    assert.equal(s.canary, null);
    assert.match(String(s.note), /lease expired/);
  });
});
