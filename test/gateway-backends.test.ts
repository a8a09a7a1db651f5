import assert from 'node:assert/strict';
import { HEADER_SIGNATURE, HEADER_TIMESTAMP, sign } from '../src/signing';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../activities';
import { GatewayMetricsSource } from '../src/metrics/gateway';
import { MetricsWindowSchema, type MetricsSource } from '../src/metrics/types';
import { GatewayRouter } from '../src/router/gateway';
import { RouterConfigError, type AppliedSplit, type DesiredSplit } from '../src/router/types';
import { WebhookRouter, verifySignature } from '../src/router/webhook';
import { TOKEN, invoke, pool, twoVersionFixture } from './gateway-support';

const canary10: DesiredSplit = {
  stable: 'v1',
  canary: 'v2',
  canaryWeight: 10,
  leaseMs: 60_000,
  owner: 'canary-bot',
};

describe('GatewayRouter and GatewayMetricsSource against a real gateway', () => {
  const f = twoVersionFixture();

  it('sets and reads the split; the traffic follows it', async () => {
    const router = new GatewayRouter({ url: f.gw.url, token: TOKEN });
    const t0 = Date.now();
    const applied = await router.setSplit('bot', { ...canary10, canaryWeight: 30 });
    assert.equal(applied.canary, 'v2');
    assert.equal(applied.canaryWeight, 30);
    assert.ok(applied.leaseExpiresAt! >= t0 + 60_000);
    assert.deepEqual(await router.getSplit('bot'), applied);
    const results = await pool(1000, 16, () => invoke(f.gw, 'bot'));
    const share = results.filter((r) => r.version === 'v2').length / results.length;
    assert.ok(Math.abs(share - 0.3) < 0.06, `share ${share}`);
  });

  it('4xx become RouterConfigError (non-retryable in the activity); network errors stay retryable', async () => {
    const router = new GatewayRouter({ url: f.gw.url, token: TOKEN });
    await assert.rejects(router.setSplit('bot', { ...canary10, canary: 'v7' }), (err: Error) => {
      assert.ok(err instanceof RouterConfigError);
      assert.match(err.message, /HTTP 400 .*unknown version "v7"/);
      return true;
    });
    await assert.rejects(router.setSplit('ghost', canary10), RouterConfigError);
    await assert.rejects(
      new GatewayRouter({ url: f.gw.url, token: 'wrong' }).getSplit('bot'),
      RouterConfigError,
    );

    const metrics: MetricsSource = { fetch: () => Promise.reject(new Error('unused')) };
    const activities = createActivities({ router, metrics, notifiers: () => [] });
    await assert.rejects(
      activities.setTrafficSplit({ agent: 'bot', desired: { ...canary10, canaryWeight: 500 } }),
      (err: unknown) =>
        err instanceof ApplicationFailure && err.nonRetryable && err.type === 'RouterConfigError',
    );

    await f.gw.close();
    await assert.rejects(router.setSplit('bot', canary10), (err: Error) => {
      assert.ok(!(err instanceof RouterConfigError), 'a gateway that is down is worth retrying');
      assert.match(err.message, /ECONNREFUSED|UND_ERR_SOCKET|closed/);
      return true;
    });
    await assert.rejects(
      activities.setTrafficSplit({ agent: 'bot', desired: canary10 }),
      (err: unknown) => !(err instanceof ApplicationFailure && err.nonRetryable),
    );
  });

  it('returns a MetricsWindow in the contract format with the traffic of the window', async () => {
    const router = new GatewayRouter({ url: f.gw.url, token: TOKEN });
    await router.setSplit('bot', { ...canary10, canaryWeight: 50 });
    const since = Date.now();
    const results = await pool(300, 16, (i) => invoke(f.gw, 'bot', `k${i}`));
    for (const r of results.slice(0, 100)) {
      await fetch(`${f.gw.url}/v1/feedback`, {
        method: 'POST',
        body: JSON.stringify({ requestId: r.requestId, taskSuccess: r.version === 'v1', qualityScore: 0.8 }),
      });
    }
    const source = new GatewayMetricsSource({ url: f.gw.url, token: TOKEN });
    const window = await source.fetch({
      agent: 'bot',
      stable: 'v1',
      canary: 'v2',
      since,
      until: Date.now() + 1,
    });
    MetricsWindowSchema.parse(window);
    const served = (v: string) => results.filter((r) => r.version === v).length;
    assert.equal(window.stable.version, 'v1');
    assert.equal(window.stable.requests, served('v1'));
    assert.equal(window.canary.requests, served('v2'));
    assert.equal(window.stable.latencyMs.count, served('v1'));
    const fed = results.slice(0, 100);
    assert.equal(window.stable.taskSuccess.successes, fed.filter((r) => r.version === 'v1').length);
    assert.equal(window.canary.taskSuccess.successes, 0);
    assert.equal(window.canary.taskSuccess.total, fed.filter((r) => r.version === 'v2').length);
    assert.ok(window.stable.latencyMs.p99! >= window.stable.latencyMs.p50!);
    const h = window.stable.latencyMs.histogram;
    assert.ok(h.every(([v], i) => i === 0 || v > h[i - 1][0]));

    const empty = await source.fetch({ agent: 'bot', stable: 'v1', canary: 'v2', since: 1000, until: 2000 });
    assert.equal(empty.stable.requests + empty.canary.requests, 0);
    assert.equal(empty.canary.latencyMs.p99, null);
  });
});

describe('WebhookRouter', () => {
  const secret = 'shh';
  let server: http.Server;
  let url: string;
  let received: { headers: http.IncomingHttpHeaders; body: string; method: string; url: string }[];
  let answer: (body: string) => { status: number; body: string };

  before(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        received.push({ headers: req.headers, body, method: req.method!, url: req.url! });
        const a = answer(body);
        res.writeHead(a.status, { 'content-type': 'application/json' });
        res.end(a.body);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/router`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));
  beforeEach(() => {
    received = [];
  });

  it('POSTs the split signed over timestamp and body; the receiver can verify it', async () => {
    const applied: AppliedSplit = {
      agent: 'bot',
      stable: 'v1',
      canary: 'v2',
      canaryWeight: 10,
      leaseExpiresAt: 123,
      updatedAt: 100,
    };
    answer = () => ({ status: 200, body: JSON.stringify(applied) });
    const router = new WebhookRouter({ url, secret });
    assert.deepEqual(await router.setSplit('bot', canary10), applied);
    const [req] = received;
    assert.equal(req.method, 'POST');
    const sent = JSON.parse(req.body);
    assert.deepEqual(sent.desired, canary10);
    assert.equal(sent.agent, 'bot');
    const headers = {
      timestamp: req.headers[HEADER_TIMESTAMP] as string,
      signature: req.headers[HEADER_SIGNATURE] as string,
    };
    assert.equal(headers.signature, sign(secret, headers.timestamp, req.body));
    assert.ok(verifySignature({ secret, ...headers, body: req.body }));
    assert.ok(!verifySignature({ secret: 'other', ...headers, body: req.body }), 'wrong secret');
    assert.ok(
      !verifySignature({ secret, ...headers, body: req.body.replace('"v2"', '"v3"') }),
      'tampered body',
    );
    assert.ok(
      !verifySignature({
        secret,
        ...headers,
        body: req.body,
        toleranceMs: 60_000,
        now: Number(headers.timestamp) * 1000 + 120_000,
      }),
      'stale timestamp',
    );

    answer = () => ({ status: 200, body: JSON.stringify(applied) });
    assert.deepEqual(await router.getSplit('bot'), applied);
    assert.equal(received[1].method, 'GET');
    assert.equal(received[1].url, '/router?agent=bot');
    assert.ok(
      verifySignature({
        secret,
        timestamp: received[1].headers[HEADER_TIMESTAMP] as string,
        signature: received[1].headers[HEADER_SIGNATURE] as string,
        body: '',
      }),
    );
  });

  it('an empty 2xx means applied as sent; 4xx is final, 5xx is retryable', async () => {
    const router = new WebhookRouter({ url, secret, now: () => 1_000 });
    answer = () => ({ status: 204, body: '' });
    assert.deepEqual(await router.setSplit('bot', canary10), {
      agent: 'bot',
      stable: 'v1',
      canary: 'v2',
      canaryWeight: 10,
      leaseExpiresAt: 61_000,
      updatedAt: 1_000,
    });
    answer = () => ({ status: 422, body: JSON.stringify({ error: 'no such version v2' }) });
    await assert.rejects(router.setSplit('bot', canary10), (err: Error) => {
      assert.ok(err instanceof RouterConfigError);
      assert.match(err.message, /HTTP 422 no such version v2/);
      return true;
    });
    answer = () => ({ status: 503, body: 'busy' });
    await assert.rejects(
      router.setSplit('bot', canary10),
      (err: Error) => !(err instanceof RouterConfigError),
    );
  });
});
