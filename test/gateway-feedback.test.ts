import assert from 'node:assert/strict';
import type { RunningGateway } from '../src/gateway';
import { VersionSeries } from '../src/gateway/metrics-store';
import { PendingRequests } from '../src/gateway/pending';
import type { VersionMetrics } from '../src/metrics/types';
import {
  adminHeaders,
  gateway,
  invoke,
  pool,
  putSplit,
  startUpstream,
  twoVersionConfig,
  waitFor,
  type Upstream,
} from './gateway-support';

async function metrics(gw: RunningGateway, since: number, until: number) {
  const res = await fetch(`${gw.url}/v1/admin/agents/bot/metrics?since=${since}&until=${until}`, {
    headers: adminHeaders(),
  });
  assert.equal(res.status, 200);
  return ((await res.json()) as { versions: Record<string, VersionMetrics> }).versions;
}

async function feedback(gw: RunningGateway, body: unknown) {
  const res = await fetch(`${gw.url}/v1/feedback`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('gateway feedback and metrics', () => {
  let v1: Upstream;
  let v2: Upstream;
  let gw: RunningGateway;

  beforeEach(async () => {
    v1 = await startUpstream('v1');
    // v2 fails one request in four, to see errors per version.
    let n = 0;
    v2 = await startUpstream('v2', (_req, res) => {
      res.writeHead(n++ % 4 === 0 ? 503 : 200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    // A ttl no busy machine outlasts: only the ttl test below uses a short one, on its own gateway.
    gw = await gateway({ config: twoVersionConfig(v1, v2, { feedback: { ttl: '10m' } }) });
    await putSplit(gw, 'bot', { stable: 'v1', canary: 'v2', canaryWeight: 50, leaseMs: 60_000 });
  });
  afterEach(async () => {
    await gw.close();
    await v1.close();
    await v2.close();
  });

  it('joins feedback to the version that served the request', async () => {
    const since = Date.now();
    const results = await pool(400, 16, (i) => invoke(gw, 'bot', `s${i}`));
    // Stable succeeds on 90% of tasks with quality 0.9; canary on 50% with quality 0.5.
    let i = 0;
    const expected = { v1: { ok: 0, total: 0, q: 0 }, v2: { ok: 0, total: 0, q: 0 } };
    for (const r of results) {
      const isCanary = r.version === 'v2';
      const ok = isCanary ? i % 2 === 0 : i % 10 !== 0;
      const q = isCanary ? 0.5 : 0.9;
      const fb = await feedback(gw, { requestId: r.requestId, taskSuccess: ok, qualityScore: q });
      assert.equal(fb.status, 200);
      assert.equal(fb.body.version, r.version);
      const e = expected[r.version as 'v1' | 'v2'];
      e.total++;
      e.ok += ok ? 1 : 0;
      e.q += q;
      i++;
    }
    const m = await metrics(gw, since, Date.now() + 1);
    for (const v of ['v1', 'v2'] as const) {
      assert.equal(m[v].requests, results.filter((r) => r.version === v).length);
      assert.deepEqual(m[v].taskSuccess, { successes: expected[v].ok, total: expected[v].total });
      assert.equal(m[v].quality.count, expected[v].total);
      assert.ok(Math.abs(m[v].quality.sum - expected[v].q) < 1e-6);
      assert.deepEqual(m[v].quality.histogram, [[v === 'v1' ? 0.9 : 0.5, expected[v].total]]);
    }
    assert.equal(m.v1.errors, 0);
    assert.equal(m.v2.errors, results.filter((r) => r.status === 503).length);
    assert.ok(m.v2.errors > 0);
  });

  it('refuses unknown, repeated and malformed feedback with a reason', async () => {
    const r = await invoke(gw, 'bot', 'x');
    assert.equal((await feedback(gw, { requestId: r.requestId, taskSuccess: true })).status, 200);
    const again = await feedback(gw, { requestId: r.requestId, taskSuccess: false });
    assert.equal(again.status, 409);
    assert.match(String(again.body.error), /already recorded \(taskSuccess\)/);
    // A different outcome kind for the same request is still welcome.
    assert.equal((await feedback(gw, { requestId: r.requestId, qualityScore: 0.7 })).status, 200);
    const unknown = await feedback(gw, { requestId: 'never-seen', taskSuccess: true });
    assert.equal(unknown.status, 404);
    assert.match(String(unknown.body.error), /unknown or expired requestId "never-seen"/);
    const empty = await feedback(gw, { requestId: r.requestId });
    assert.equal(empty.status, 400);
    assert.match(String(empty.body.error), /give taskSuccess or qualityScore/);
    const badType = await feedback(gw, { requestId: r.requestId, qualityScore: 'high' });
    assert.equal(badType.status, 400);
    assert.match(String(badType.body.error), /qualityScore/);
  });

  it('accepts late feedback within the ttl and refuses it after', async () => {
    await gw.close();
    gw = await gateway({ config: twoVersionConfig(v1, v2, { feedback: { ttl: '1500ms' } }) });
    const r = await invoke(gw, 'bot', 'late');
    const r2 = await invoke(gw, 'bot', 'later');
    await new Promise((res) => setTimeout(res, 700));
    assert.equal((await feedback(gw, { requestId: r.requestId, taskSuccess: true })).status, 200);
    await waitFor('the 1.5 s ttl to pass', async () => {
      const fb = await feedback(gw, { requestId: r2.requestId, qualityScore: 0.1 });
      return fb.status === 404 ? fb : undefined;
    });
  });

  it('answers by time range at one-second resolution', async () => {
    const t0 = Date.now();
    await pool(40, 8, () => invoke(gw, 'bot'));
    // Wait into a fresh second so the two batches fall in different one-second slots.
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));
    const t1 = Date.now();
    await pool(60, 8, () => invoke(gw, 'bot'));
    const t2 = Date.now() + 1;
    const total = (m: Record<string, VersionMetrics>) => m.v1.requests + m.v2.requests;
    assert.equal(total(await metrics(gw, t0, t2)), 100);
    assert.equal(total(await metrics(gw, Math.floor(t1 / 1000) * 1000, t2)), 60);
    assert.equal(total(await metrics(gw, t0, Math.floor(t1 / 1000) * 1000)), 40);

    const bad = await fetch(`${gw.url}/v1/admin/agents/bot/metrics?since=${t2}&until=${t0}`, {
      headers: adminHeaders(),
    });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /since .* must be before until/);
  });

  it('takes outcomes from clients that call agents themselves; p99 within 2%', async () => {
    const since = Date.now();
    const route = (await (await fetch(`${gw.url}/v1/agents/bot/route?key=user-7`)).json()) as {
      version: string;
    };
    assert.ok(route.version === 'v1' || route.version === 'v2');
    // 1000 outcomes for v1 with latencies 1..1000 ms: p50 = 500, p99 = 990.
    const batch = Array.from({ length: 1000 }, (_, i) => ({
      version: 'v1',
      latencyMs: i + 1,
      error: i % 100 === 0,
      taskSuccess: i % 2 === 0,
      ...(i === 0 ? { requestId: 'client-req-0' } : {}),
    }));
    const res = await fetch(`${gw.url}/v1/agents/bot/outcomes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(batch),
    });
    assert.equal(res.status, 200);
    const m = (await metrics(gw, since, Date.now() + 1)).v1;
    assert.equal(m.requests, 1000);
    assert.equal(m.errors, 10);
    assert.deepEqual(m.taskSuccess, { successes: 500, total: 1000 });
    assert.equal(m.latencyMs.count, 1000);
    assert.ok(Math.abs(m.latencyMs.p99! - 990) / 990 <= 0.02, `p99 ${m.latencyMs.p99}`);
    assert.ok(Math.abs(m.latencyMs.p50! - 500) / 500 <= 0.02, `p50 ${m.latencyMs.p50}`);
    const hist = m.latencyMs.histogram;
    assert.equal(
      hist.reduce((s, [, n]) => s + n, 0),
      1000,
    );
    assert.ok(
      hist.every(([v], i) => i === 0 || v > hist[i - 1][0]),
      'sorted by value',
    );

    // Task success was reported with the outcome; quality may still come later, once.
    assert.equal((await feedback(gw, { requestId: 'client-req-0', taskSuccess: true })).status, 409);
    assert.equal((await feedback(gw, { requestId: 'client-req-0', qualityScore: 1 })).status, 200);

    const bad = await fetch(`${gw.url}/v1/agents/bot/outcomes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ version: 'v9' }]),
    });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /0\.version: unknown version "v9"/);
  });

  it('exposes Prometheus text with agent and version labels, and a health check', async () => {
    await pool(20, 4, () => invoke(gw, 'bot'));
    const text = await fetch(`${gw.url}/metrics`).then((r) => r.text());
    const req = (v: string) =>
      Number(new RegExp(`agent_canary_requests_total\\{agent="bot",version="${v}"\\} (\\d+)`).exec(text)![1]);
    assert.equal(req('v1') + req('v2'), 20);
    assert.match(
      text,
      /agent_canary_request_duration_seconds_bucket\{agent="bot",version="v1",le="\+Inf"\} \d+/,
    );
    assert.match(text, /# TYPE agent_canary_request_duration_seconds histogram/);
    assert.match(text, /agent_canary_split_info\{agent="bot",stable="v1",canary="v2"\} 1/);
    const health = await fetch(`${gw.url}/healthz`);
    assert.equal(health.status, 200);
  });
});

describe('feedback join table', () => {
  it('stays bounded: forgets the oldest requests past maxPending and past the ttl', () => {
    const series = new VersionSeries('bot', 'v1', 60);
    const pending = new PendingRequests(10_000, 3);
    for (let i = 0; i < 4; i++) pending.add(`r${i}`, series, 1000 + i);
    assert.equal(pending.size, 3);
    const first = pending.join('r0', true, undefined, 2000);
    assert.ok(!first.ok && first.status === 404, 'the oldest was forgotten when the table was full');
    assert.ok(pending.join('r3', true, undefined, 2000).ok);

    pending.prune(1000 + 10_000 + 3); // r1 and r2 are past the ttl, r3 (at 1003) just not
    assert.equal(pending.size, 1);
    assert.ok(pending.join('r3', undefined, 0.5, 1000 + 10_000 + 3).ok);
    const m = series.query(0, 1e9, 20_000);
    assert.deepEqual(m.taskSuccess, { successes: 1, total: 1 });
    assert.equal(m.quality.count, 1);
  });
  it('cost per successful task: priced answers whose task succeeded, whichever is known first', () => {
    const series = new VersionSeries('bot', 'v1', 60);
    const pending = new PendingRequests(60_000, 100);
    for (const id of ['answered-first', 'judged-first', 'failed', 'unpriced', 'quality-only'])
      pending.add(id, series, 1000);
    pending.answered('answered-first', 0.002, 1100);
    assert.ok(pending.join('answered-first', true, undefined, 1200).ok);
    // A streamed answer can be judged before it ends: its cost counts when it is read.
    assert.ok(pending.join('judged-first', true, undefined, 1200).ok);
    pending.answered('judged-first', 0.004, 1300);
    pending.answered('failed', 0.1, 1100);
    assert.ok(pending.join('failed', false, undefined, 1200).ok);
    assert.ok(pending.join('unpriced', true, undefined, 1200).ok);
    pending.answered('quality-only', 0.1, 1100);
    assert.ok(pending.join('quality-only', undefined, 0.9, 1200).ok);
    // A second answer under the same id (a client reusing x-request-id) changes nothing.
    pending.answered('answered-first', 5, 1400);
    const s = series.query(0, 1e9, 20_000).signals!;
    assert.equal(s.successCost?.count, 2);
    assert.ok(Math.abs(s.successCost!.sum - 0.006) < 1e-12, String(s.successCost!.sum));
  });
});
