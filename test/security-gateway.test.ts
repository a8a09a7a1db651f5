// Hostile HTTP against the gateway (issue 11): each case here was found by a security review and
// failed before its fix. Loopback servers only; no Temporal.
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatewayConfigError, resolveGatewayConfig, startGateway, type RunningGateway } from '../src/gateway';
import { VersionSeries } from '../src/gateway/metrics-store';
import type { VersionMetrics } from '../src/metrics/types';
import {
  TOKEN,
  adminHeaders,
  gateway,
  invoke,
  putSplit,
  startUpstream,
  twoVersionConfig,
  waitFor,
  type Upstream,
} from './gateway-support';

interface Raw {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A request with the path exactly as given (fetch would normalise "..") and optional raw headers. */
function raw(
  gw: RunningGateway,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Raw> {
  const u = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, method, path, headers, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function post(gw: RunningGateway, path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${gw.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { error?: string } & Record<string, unknown> };
}

async function metrics(gw: RunningGateway) {
  const res = await fetch(`${gw.url}/v1/admin/agents/bot/metrics?since=0`, { headers: adminHeaders() });
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text) as { versions: Record<string, VersionMetrics> } };
}

describe('security: gateway', () => {
  let v1: Upstream;
  let v2: Upstream;
  let gw: RunningGateway | undefined;
  const logs: string[] = [];

  beforeEach(async () => {
    logs.length = 0;
    v1 = await startUpstream('v1');
    v2 = await startUpstream('v2');
  });
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
    await v1.close();
    await v2.close();
  });

  describe('ingest (outcomes, feedback)', () => {
    it('needs a credential by default, and the ingest token grants nothing on /v1/admin', async () => {
      gw = await startGateway({
        config: twoVersionConfig(v1, v2),
        adminToken: TOKEN,
        ingestToken: 'ingest-1',
      });
      const outcome = { version: 'v1', error: true };
      assert.equal((await post(gw, '/v1/agents/bot/outcomes', outcome)).status, 401);
      assert.equal((await post(gw, '/v1/feedback', { requestId: 'x', taskSuccess: true })).status, 401);
      const wrong = await post(gw, '/v1/agents/bot/outcomes', outcome, { authorization: 'Bearer nope' });
      assert.equal(wrong.status, 401);
      const ok = await post(gw, '/v1/agents/bot/outcomes', outcome, { authorization: 'Bearer ingest-1' });
      assert.equal(ok.status, 200);
      const admin = await fetch(`${gw.url}/v1/admin/agents/bot/split`, { headers: adminHeaders('ingest-1') });
      assert.equal(admin.status, 401);
      assert.equal((await metrics(gw)).json.versions.v1.requests, 1, 'only the authorised outcome counted');
    });

    it('falls back to the admin token when no ingest token is configured (never open by accident)', async () => {
      gw = await startGateway({ config: twoVersionConfig(v1, v2), adminToken: TOKEN });
      assert.equal((await post(gw, '/v1/agents/bot/outcomes', { version: 'v1' })).status, 401);
      const ok = await post(
        gw,
        '/v1/agents/bot/outcomes',
        { version: 'v1' },
        { authorization: `Bearer ${TOKEN}` },
      );
      assert.equal(ok.status, 200);
    });
  });

  describe('quality scores', () => {
    it('refuses scores whose sum could overflow, naming the field; the metrics stay readable', async () => {
      gw = await gateway({ config: twoVersionConfig(v1, v2) });
      const huge = await post(gw, '/v1/agents/bot/outcomes', { version: 'v2', qualityScore: 1e308 });
      assert.equal(huge.status, 400);
      assert.match(huge.body.error!, /^qualityScore: must be between -1000 and 1000/);
      const r = await invoke(gw, 'bot');
      const fb = await post(gw, '/v1/feedback', { requestId: r.requestId, qualityScore: -1e308 });
      assert.equal(fb.status, 400);
      assert.match(fb.body.error!, /qualityScore/);
      await post(gw, '/v1/agents/bot/outcomes', { version: 'v2', qualityScore: 1000 });
      const m = await metrics(gw);
      assert.ok(!m.text.includes('"sum":null'), m.text);
      assert.equal(m.json.versions.v2.quality.sum, 1000);
    });

    it('keeps a bounded histogram however many distinct scores arrive', async () => {
      gw = await gateway({ config: twoVersionConfig(v1, v2) });
      for (let batch = 0; batch < 10; batch++) {
        const items = Array.from({ length: 1000 }, (_, i) => ({
          version: 'v2',
          qualityScore: ((batch * 1000 + i) * 0.0999) % 1000,
          latencyMs: batch * 1000 + i,
        }));
        assert.equal((await post(gw, '/v1/agents/bot/outcomes', items)).status, 200);
      }
      const started = performance.now();
      const m = await metrics(gw);
      const took = performance.now() - started;
      const q = m.json.versions.v2.quality;
      assert.equal(q.count, 10_000);
      assert.ok(q.histogram.length <= 7_500, `${q.histogram.length} quality buckets`);
      assert.ok(m.text.length < 400_000, `answer of ${m.text.length} bytes`);
      assert.ok(took < 1000, `query took ${took} ms`);
    });

    it('names the field of a badly typed outcome instead of "(body): Invalid input"', async () => {
      gw = await gateway({ config: twoVersionConfig(v1, v2) });
      const one = await post(gw, '/v1/agents/bot/outcomes', { version: 'v1', qualityScore: 'high' });
      assert.match(one.body.error!, /^qualityScore: must be a number/);
      const list = await post(gw, '/v1/agents/bot/outcomes', [
        { version: 'v1' },
        { version: 'v1', error: 'yes' },
      ]);
      assert.match(list.body.error!, /^1\.error: must be true or false/);
    });
  });

  describe('request ids', () => {
    it('are random, not a boot prefix and a counter', async () => {
      gw = await gateway({ config: twoVersionConfig(v1, v2) });
      const a = await invoke(gw, 'bot');
      const b = await invoke(gw, 'bot');
      for (const id of [a.requestId, b.requestId])
        assert.match(id!, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-/);
      const common = [...a.requestId!].findIndex((c, i) => c !== b.requestId![i]);
      assert.ok(common < 8, `ids share a ${common}-character prefix: ${a.requestId} ${b.requestId}`);
    });

    it('a second request naming a pending id cannot move it to another version', async () => {
      gw = await gateway({ config: twoVersionConfig(v1, v2) });
      const first = await invoke(gw, 'bot');
      assert.equal(first.version, 'v1');
      await putSplit(gw, 'bot', { stable: 'v1', canary: 'v2', canaryWeight: 100, leaseMs: 60_000 });
      const res = await fetch(`${gw.url}/v1/agents/bot/invoke`, {
        method: 'POST',
        headers: { 'x-request-id': first.requestId! },
        body: '{}',
      });
      assert.equal(res.headers.get('x-agent-version'), 'v2');
      await res.text();
      const fb = await post(gw, '/v1/feedback', { requestId: first.requestId, taskSuccess: true });
      assert.equal(fb.status, 200);
      assert.equal(fb.body.version, 'v1');
    });
  });

  describe('proxy paths and headers', () => {
    it('refuses paths that climb above the version base path, in every spelling', async () => {
      const up = await startUpstream('v1');
      gw = await gateway({
        config: { agents: { bot: { stable: 'v1', versions: { v1: `${up.url}/agent` } } } },
      });
      try {
        for (const path of [
          '/v1/agents/bot/invoke/../../admin',
          '/v1/agents/bot/invoke/%2e%2e/admin',
          '/v1/agents/bot/invoke/.%2e/admin',
          '/v1/agents/bot/invoke/%2E%2E/%2E%2E/admin',
          '/v1/agents/bot/invoke/..\\admin',
          '/v1/agents/bot/invoke/a/..%2f..%2fadmin',
          '/v1/agents/bot/invoke/./x',
          '/v1/agents/bot/invoke/%zz/..',
        ]) {
          const r = await raw(gw, 'GET', path);
          assert.equal(r.status, 400, `${path}: ${r.status} ${r.body}`);
          assert.match(JSON.parse(r.body).error, /"\." or "\.\." segments/);
        }
        assert.equal(up.requests, 0);
        const ok = await raw(gw, 'GET', '/v1/agents/bot/invoke/a..b/c.d?x=..');
        assert.equal(ok.status, 200);
        assert.equal(JSON.parse(ok.body).path, '/agent/a..b/c.d?x=..');
      } finally {
        await up.close();
      }
    });

    it('drops headers that Connection nominates, both ways (RFC 9110 7.6.1)', async () => {
      const up = await startUpstream('v1', (req, res) => {
        res.writeHead(200, {
          connection: 'x-up-hop',
          'x-up-hop': 'secret',
          'x-kept': 'yes',
          'content-type': 'application/json',
        });
        res.end(JSON.stringify(req.headers));
      });
      gw = await gateway({ config: { agents: { bot: { stable: 'v1', versions: { v1: up.url } } } } });
      try {
        const r = await raw(gw, 'POST', '/v1/agents/bot/invoke', {
          connection: 'keep-alive, X-Client-Hop',
          'x-client-hop': 'internal',
          'x-end-to-end': 'kept',
        });
        const seen = JSON.parse(r.body) as Record<string, string>;
        assert.equal(seen['x-client-hop'], undefined);
        assert.equal(seen['x-end-to-end'], 'kept');
        assert.equal(r.headers['x-up-hop'], undefined);
        assert.equal(r.headers['x-kept'], 'yes');
      } finally {
        await up.close();
      }
    });
  });

  describe('bodies', () => {
    it('answers 413 with a JSON error for an oversize body (declared or chunked), and stays up', async () => {
      gw = await gateway({ config: twoVersionConfig(v1, v2) });
      const big = JSON.stringify([{ version: 'v1', pad: 'x'.repeat(2 << 20) }]);
      const declared = await raw(
        gw,
        'POST',
        '/v1/agents/bot/outcomes',
        { 'content-type': 'application/json' },
        big,
      );
      assert.equal(declared.status, 413);
      assert.match(JSON.parse(declared.body).error, /body larger than 1048576 bytes/);
      const chunked = await raw(
        gw,
        'POST',
        '/v1/feedback',
        { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
        big,
      );
      assert.equal(chunked.status, 413);
      assert.equal((await fetch(`${gw.url}/healthz`)).status, 200);
    });

    it('logs no stack trace when a client aborts its body', async () => {
      gw = await gateway({ config: twoVersionConfig(v1, v2), log: (l) => logs.push(l) });
      const u = new URL(gw.url);
      await new Promise<void>((resolve) => {
        const req = http.request({
          host: u.hostname,
          port: u.port,
          method: 'POST',
          path: '/v1/agents/bot/outcomes',
          headers: { 'content-length': '1000' },
        });
        req.on('error', () => resolve());
        req.write('{"version":');
        setTimeout(() => req.destroy(), 50);
        req.on('close', () => resolve());
      });
      await waitFor('the gateway to answer again', async () =>
        (await fetch(`${gw!.url}/healthz`)).ok ? true : undefined,
      );
      assert.deepEqual(
        logs.filter((l) => /internal error|\n\s+at /.test(l)),
        [],
      );
    });
  });

  describe('answers', () => {
    it('unauthenticated 404s do not list the configured agents', async () => {
      gw = await gateway({ config: twoVersionConfig(v1, v2) });
      for (const path of ['/v1/agents/nope/route', '/v1/agents/nope/invoke']) {
        const r = await raw(gw, 'GET', path);
        assert.equal(r.status, 404);
        assert.ok(!r.body.includes('bot'), r.body);
      }
      const outcome = await post(gw, '/v1/agents/bot/outcomes', { version: 'v9' });
      assert.ok(!outcome.body.error!.includes('v2'), outcome.body.error);
    });

    it('refuses a lease longer than an hour (a share that never lapses)', async () => {
      gw = await gateway({ config: twoVersionConfig(v1, v2) });
      const r = await putSplit(gw, 'bot', { stable: 'v1', canary: 'v2', canaryWeight: 50, leaseMs: 1e20 });
      assert.equal(r.status, 400);
      assert.match(JSON.stringify(r.body), /leaseMs/);
    });
  });

  describe('configuration', () => {
    it('bounds every duration and count, naming the field', () => {
      const agents = { bot: { stable: 'v1', versions: { v1: 'http://127.0.0.1:9' } } };
      for (const [field, extra] of [
        ['metrics.retention', { metrics: { retention: '100000d' } }],
        ['metrics.retention', { metrics: { retention: '9'.repeat(400) } }],
        ['feedback.ttl', { feedback: { ttl: '1e400' } }],
        ['feedback.maxPending', { feedback: { maxPending: 1e12 } }],
        ['agents.bot.timeout', { agents: { bot: { ...agents.bot, timeout: '10d' } } }],
      ] as const) {
        assert.throws(
          () => resolveGatewayConfig({ agents, ...extra }),
          (err: unknown) => err instanceof GatewayConfigError && err.problems.some((p) => p.field === field),
          field,
        );
      }
    });

    it('a corrupt splits.json or a data dir that is a file is a configuration error naming dataDir', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sec-gw-'));
      const corrupt = join(dir, 'corrupt');
      mkdirSync(corrupt);
      writeFileSync(join(corrupt, 'splits.json'), '{"format":1,"splits":{"bot":');
      const file = join(dir, 'a-file');
      writeFileSync(file, 'x');
      for (const dataDir of [corrupt, file]) {
        await assert.rejects(
          gateway({ config: twoVersionConfig(v1, v2), dataDir }),
          (err: unknown) => err instanceof GatewayConfigError && err.problems[0].field === 'dataDir',
        );
      }
    });
  });
});

describe('security: metrics store', () => {
  it('answers a query over 6 h of hostile data (distinct values every second) in under 100 ms', () => {
    const series = new VersionSeries('bot', 'v1', 6 * 3600);
    const start = Date.UTC(2026, 0, 1);
    const seconds = 6 * 3600;
    for (let s = 0; s < seconds; s++) {
      const now = start + s * 1000;
      for (let i = 0; i < 20; i++) {
        series.recordRequest(((s * 20 + i) % 5000) + 0.5, i === 0, now);
        series.recordOutcome({ taskSuccess: i % 2 === 0, qualityScore: ((s * 20 + i) % 2000) / 1000 }, now);
      }
    }
    const now = start + seconds * 1000;
    series.query(start, now, now); // warm the JIT, as a running gateway is
    // The fastest of a few runs: what the query costs, not how often a busy machine preempted it.
    let took = Infinity;
    for (let run = 0; run < 7; run++) {
      const t0 = performance.now();
      const m = series.query(start, now, now);
      took = Math.min(took, performance.now() - t0);
      assert.equal(m.requests, (seconds - 1) * 20);
    }
    assert.ok(took < 100, `6 h query took ${took.toFixed(1)} ms (fastest of 7)`);
  });

  it('minute sums give the same answers as adding the seconds one by one', () => {
    const series = new VersionSeries('bot', 'v1', 3600);
    const start = Date.UTC(2026, 0, 1, 0, 0, 17);
    const model: { at: number; latency: number; q: number }[] = [];
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let s = 0; s < 900; s++) {
      const n = Math.floor(rand() * 4);
      for (let i = 0; i < n; i++) {
        const at = start + s * 1000 + Math.floor(rand() * 1000);
        const latency = rand() * 900;
        const q = Math.round(rand() * 1000) / 1000;
        series.recordRequest(latency, false, at);
        series.recordOutcome({ qualityScore: q }, at);
        model.push({ at, latency, q });
      }
    }
    const now = start + 900 * 1000;
    for (let k = 0; k < 200; k++) {
      const a = start - 5000 + Math.floor(rand() * 910_000);
      const b = a + 1 + Math.floor(rand() * 910_000);
      const m = series.query(a, b, now);
      const firstSec = Math.floor(a / 1000);
      const lastSec = Math.ceil(b / 1000) - 1;
      const inside = model.filter((x) => {
        const sec = Math.floor(x.at / 1000);
        return sec >= firstSec && sec <= lastSec;
      });
      assert.equal(m.requests, inside.length, `[${a}, ${b})`);
      assert.equal(m.quality.count, inside.length);
      assert.ok(Math.abs(m.quality.sum - inside.reduce((s, x) => s + x.q, 0)) < 1e-6);
      assert.equal(
        m.latencyMs.histogram.reduce((s, [, c]) => s + c, 0),
        inside.length,
      );
    }
  });
});
