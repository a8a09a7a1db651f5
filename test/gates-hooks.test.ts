// The hook caller (src/hooks.ts) against a local HTTP server: signatures, retries on 5xx and
// timeouts, no retry on other answers, the answer kept short and printable. No Temporal.
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { callHooks, type HookCall } from '../src/hooks';
import type { Hook } from '../src/plan/schema';
import { verifySignature } from '../src/signing';

const SECRET = 'hook-secret-0123456789';
const call: HookCall = {
  type: 'pre-rollout',
  agent: 'bot',
  stable: 'v1',
  canary: 'v2',
  workflowId: 'canary-bot',
  stageIndex: 0,
  weight: 5,
  reason: 'stage 1: 5%',
  at: new Date().toISOString(),
};

describe('hooks: the caller', () => {
  let base = '';
  const seen: { path: string; signed: boolean; delivery: string }[] = [];
  const plan: Record<string, ((res: ServerResponse, attempt: number) => void)[]> = {};
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const path = req.url ?? '';
      seen.push({
        path,
        delivery: String(req.headers['x-agent-canary-delivery']),
        signed: verifySignature({
          secret: SECRET,
          body,
          timestamp: req.headers['x-agent-canary-timestamp'] as string,
          signature: req.headers['x-agent-canary-signature'] as string,
        }),
      });
      const attempts = seen.filter((s) => s.path === path).length;
      const answers = plan[path] ?? [];
      (answers[attempts - 1] ?? ((r: ServerResponse) => r.end('ok')))(res, attempts);
    });
  });
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(
    () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  );

  const hook = (name: string, over: Partial<Hook> = {}): Hook => ({
    name,
    type: 'pre-rollout',
    url: `${base}/${name}`,
    timeout: 2_000,
    retries: 2,
    secret: SECRET,
    ...over,
  });
  const status =
    (code: number, body = '') =>
    (res: ServerResponse) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(body);
    };

  it('retries a 5xx and passes on the 2xx after it; every attempt signed, one delivery id', async () => {
    plan['/flaky'] = [status(503), status(502)];
    const r = await callHooks([hook('flaky')], call, { env: {} });
    assert.deepEqual(r, { ok: true, reason: 'ok', failures: [] });
    const attempts = seen.filter((s) => s.path === '/flaky');
    assert.equal(attempts.length, 3);
    assert.ok(attempts.every((a) => a.signed));
    assert.equal(new Set(attempts.map((a) => a.delivery)).size, 1);
  });

  it('a 4xx is final, its answer kept short and printable', async () => {
    plan['/refuses'] = [
      status(409, JSON.stringify({ message: `outside the release window\u0007${'x'.repeat(500)}` })),
    ];
    const r = await callHooks([hook('refuses'), hook('fine')], call, { env: {} });
    assert.equal(r.ok, false);
    assert.match(r.reason, /^hook refuses: HTTP 409: outside the release window/);
    assert.ok(r.reason.length < 260, `${r.reason.length} characters`);
    assert.ok(!r.reason.includes('\u0007'));
    assert.equal(seen.filter((s) => s.path === '/refuses').length, 1, 'not retried');
  });

  it('a silent hook times out each attempt and fails after its retries', async () => {
    plan['/silent'] = [() => undefined, () => undefined];
    const started = Date.now();
    const r = await callHooks([hook('silent', { timeout: 300, retries: 1 })], call, { env: {} });
    assert.equal(r.ok, false);
    assert.match(r.reason, /hook silent: no answer within 300 ms \(after 2 attempts\)/);
    assert.ok(Date.now() - started < 5_000);
  });

  it('secretEnv not set and hosts not allowed: not called, said why', async () => {
    const r = await callHooks(
      [hook('env', { secret: undefined, secretEnv: 'AGENT_CANARY_NOTIFY_HOOK' })],
      call,
      { env: {} },
    );
    assert.match(r.reason, /hook env: not called: environment variable AGENT_CANARY_NOTIFY_HOOK is not set/);
    const h = await callHooks([hook('host')], call, { env: {}, allowHosts: ['hooks.example.com'] });
    assert.match(h.reason, /not called: the URL host 127\.0\.0\.1 is not in the worker's allowed hosts/);
    assert.equal(seen.filter((s) => s.path === '/env' || s.path === '/host').length, 0);
  });
});
