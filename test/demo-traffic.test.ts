import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startSimulatedAgent, type SimulatedAgent } from '../src/demo/agents';
import { healthyProfile } from '../src/demo/profiles';
import { startTraffic, type Traffic } from '../src/demo/traffic';

interface Seen {
  invokes: {
    path: string;
    session: string | undefined;
    requestId: string;
    status: number;
    version: string;
  }[];
  outcomes: Map<string, unknown>;
  feedback: { requestId: string; taskSuccess: unknown; qualityScore: unknown }[];
  inFlight: number;
  maxInFlight: number;
}

/**
 * The gateway's HTTP contract (DESIGN.md §5) and nothing more: sticky choice by x-session-id
 * between two upstreams, x-request-id and x-agent-version on answers, POST /v1/feedback.
 */
async function fakeGateway(upstreams: SimulatedAgent[], hold?: Promise<void>) {
  const seen: Seen = { invokes: [], outcomes: new Map(), feedback: [], inFlight: 0, maxInFlight: 0 };
  let ids = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', async () => {
      if (req.url === '/v1/feedback') {
        seen.feedback.push(JSON.parse(body));
        res.writeHead(202).end('{}');
        return;
      }
      seen.inFlight++;
      seen.maxInFlight = Math.max(seen.maxInFlight, seen.inFlight);
      try {
        if (hold) await hold;
        const session = req.headers['x-session-id'] as string | undefined;
        const pick = upstreams[Number(session?.split('-')[1] ?? 0) % upstreams.length];
        const up = await fetch(pick.url + req.url, {
          method: 'POST',
          body,
          headers: { accept: req.headers.accept ?? '*/*' },
        });
        const text = await up.text();
        const requestId = `req-${++ids}`;
        if (up.ok) {
          const { parseOutcome } = await import('../src/demo/traffic');
          seen.outcomes.set(requestId, parseOutcome(up.headers.get('content-type') ?? '', text));
        }
        seen.invokes.push({ path: req.url!, session, requestId, status: up.status, version: pick.version });
        res
          .writeHead(up.status, {
            'content-type': up.headers.get('content-type') ?? 'application/json',
            'x-request-id': requestId,
            'x-agent-version': pick.version,
          })
          .end(text);
      } catch {
        res.destroy();
      } finally {
        seen.inFlight--;
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('synthetic traffic', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    while (cleanup.length) await cleanup.pop()!();
  });
  const fast = (version: string, errorRate = 0) => ({
    ...healthyProfile(version),
    errorRate,
    latencyMs: { median: 3, p99: 10 },
  });
  async function setup(errorRates = [0, 0], hold?: Promise<void>) {
    const agents = await Promise.all(errorRates.map((e, i) => startSimulatedAgent(fast(`v${i + 1}`, e))));
    cleanup.push(...agents.map((a) => () => a.close()));
    const gw = await fakeGateway(agents, hold);
    cleanup.push(gw.close);
    return gw;
  }
  function traffic(t: Traffic): Traffic {
    cleanup.push(() => t.stop());
    return t;
  }

  it('sends at the asked rate with session keys, and reports each outcome as feedback', async () => {
    const gw = await setup();
    const t = traffic(
      // A grace long enough for a loaded machine: every request sent is answered and counted.
      startTraffic({
        gatewayUrl: gw.url,
        agent: 'support-bot',
        rps: 100,
        sessions: 8,
        seed: 1,
        stopGraceMs: 60_000,
      }),
    );
    await until(() => t.stats().sent >= 100, '100 requests');
    const elapsed = t.stats().elapsedMs;
    // Paced, not a burst (the lower bound); the upper bound only catches a stall, since a loaded CI
    // machine delays timers.
    assert.ok(elapsed > 850 && elapsed < 4000, `100 requests at 100 rps took ${elapsed} ms`);
    await until(() => gw.seen.feedback.length >= 50, '50 feedback posts');
    const stats = await t.stop();

    for (const inv of gw.seen.invokes) {
      assert.equal(inv.path, '/v1/agents/support-bot/invoke');
      assert.match(inv.session ?? '', /^session-[0-7]$/);
    }
    assert.ok(new Set(gw.seen.invokes.map((i) => i.session)).size > 4, 'requests spread over sessions');
    for (const fb of gw.seen.feedback) {
      const outcome = gw.seen.outcomes.get(fb.requestId) as { taskSuccess: boolean; qualityScore: number };
      assert.ok(outcome, `feedback for unknown request ${fb.requestId}`);
      assert.deepEqual({ taskSuccess: fb.taskSuccess, qualityScore: fb.qualityScore }, outcome);
    }
    assert.equal(stats.feedbackSent, gw.seen.feedback.length);
    assert.equal(stats.errors, 0);
    assert.equal(stats.ok, gw.seen.invokes.length);
    const byVersion = Object.fromEntries(
      ['v1', 'v2'].map((v) => [v, gw.seen.invokes.filter((i) => i.version === v).length]),
    );
    assert.deepEqual(
      Object.fromEntries(Object.entries(stats.byVersion).map(([v, s]) => [v, s.requests])),
      byVersion,
    );
  });

  it('counts 5xx answers as errors by version and sends no feedback for them', async () => {
    const gw = await setup([0, 1]);
    const t = traffic(startTraffic({ gatewayUrl: gw.url, agent: 'a', rps: 200, sessions: 10, seed: 2 }));
    await until(() => t.stats().errors >= 20 && t.stats().feedbackSent >= 20, 'errors and feedback');
    const stats = await t.stop();
    const failed = new Set(gw.seen.invokes.filter((i) => i.status >= 500).map((i) => i.requestId));
    assert.equal(stats.byVersion.v2.errors, stats.byVersion.v2.requests, 'v2 always fails');
    assert.equal(stats.byVersion.v1.errors, 0);
    assert.equal(stats.errors, stats.byVersion.v2.errors);
    for (const fb of gw.seen.feedback) assert.ok(!failed.has(fb.requestId));
  });

  it('streams over SSE and still finds the outcome for feedback', async () => {
    const gw = await setup();
    const t = traffic(startTraffic({ gatewayUrl: gw.url, agent: 'a', rps: 50, stream: true, seed: 3 }));
    await until(() => t.stats().feedbackSent >= 10, '10 feedback posts from streams');
    await t.stop();
    assert.ok(gw.seen.feedback.every((fb) => typeof fb.qualityScore === 'number'));
  });

  it('keeps requests in flight bounded, dropping ticks instead of piling up', async () => {
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    const gw = await setup([0, 0], hold);
    const t = traffic(startTraffic({ gatewayUrl: gw.url, agent: 'a', rps: 200, maxInFlight: 3, seed: 4 }));
    await until(() => t.stats().dropped >= 20, 'dropped ticks');
    assert.equal(gw.seen.maxInFlight, 3);
    release();
    await until(() => t.stats().ok >= 3, 'held requests answered');
    await t.stop();
  });

  it('stops by itself after maxDurationMs', async () => {
    const gw = await setup();
    const t = traffic(startTraffic({ gatewayUrl: gw.url, agent: 'a', rps: 50, maxDurationMs: 300 }));
    const stats = await Promise.race([
      t.done,
      new Promise<never>((_, rej) => setTimeout(() => rej(new Error('still running after 5 s')), 5000)),
    ]);
    assert.equal(stats.running, false);
    assert.ok(stats.elapsedMs >= 300 && stats.sent <= 50 * 0.3 + 2, JSON.stringify(stats));
    assert.equal(t.stats().sent, stats.sent, 'nothing sent after the end');
  });

  it('reports an unreachable gateway as failures, not as agent errors', async () => {
    const gw = await setup();
    await gw.close();
    const t = traffic(startTraffic({ gatewayUrl: gw.url, agent: 'a', rps: 50 }));
    await until(() => t.stats().failures >= 3, 'failures');
    const stats = await t.stop();
    assert.equal(stats.errors, 0);
    assert.match(stats.lastError ?? '', /ECONNREFUSED/);
  });

  it('refuses bad options, naming the field, and never leaves the machine', () => {
    assert.throws(
      () => startTraffic({ gatewayUrl: 'http://example.com:8787', agent: 'a', rps: 1 }),
      /invalid traffic options: gatewayUrl: must point at this machine/,
    );
    assert.throws(() => startTraffic({ gatewayUrl: 'http://127.0.0.1:1', agent: 'a', rps: 0 }), /rps: /);
    assert.throws(
      () => startTraffic({ gatewayUrl: 'not a url', agent: 'a', rps: 1 }),
      /gatewayUrl: must be a URL like/,
    );
  });
});
