// The outbound policy in the router and metrics backends (issue 11): redirects are refused as
// configuration errors (not followed, not retried), and an error answer's raw body is never kept.
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GatewayMetricsSource } from '../src/metrics/gateway';
import { PrometheusMetricsSource } from '../src/metrics/prometheus';
import { MetricsConfigError } from '../src/metrics/types';
import { GatewayRouter } from '../src/router/gateway';
import { RouterConfigError } from '../src/router/types';
import { NonceCache, WebhookRouter, verifyRequestSignature } from '../src/router/webhook';
import { HEADER_NONCE, HEADER_REQUEST_SIGNATURE, HEADER_TIMESTAMP } from '../src/signing';

async function server(respond: (res: ServerResponse) => void) {
  const hits: string[] = [];
  const s: Server = createServer((req, res) => {
    hits.push(req.url ?? '');
    req.resume();
    req.on('end', () => respond(res));
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    hits,
    close: () =>
      new Promise<void>((r) => {
        s.closeAllConnections();
        s.close(() => r());
      }),
  };
}

const query = { agent: 'bot', stable: 'v1', canary: 'v2', since: 0, until: 1000 };
const desired = { stable: 'v1', canary: 'v2', canaryWeight: 5, leaseMs: 60_000 };

describe('security: router and metrics backends', () => {
  it('refuse redirects as configuration errors, calling only the first host', async () => {
    const inner = await server((res) => res.end('{}'));
    const outer = await server((res) => {
      res.writeHead(302, { location: `${inner.url}/elsewhere` });
      res.end();
    });
    try {
      const calls: [string, () => Promise<unknown>, new (m: string) => Error][] = [
        [
          'gateway router',
          () => new GatewayRouter({ url: outer.url, token: 't' }).getSplit('bot'),
          RouterConfigError,
        ],
        [
          'webhook router',
          () =>
            new WebhookRouter({ url: `${outer.url}/hook?token=abc`, secret: 's' }).setSplit('bot', desired),
          RouterConfigError,
        ],
        [
          'gateway metrics',
          () => new GatewayMetricsSource({ url: outer.url, token: 't' }).fetch(query),
          MetricsConfigError,
        ],
        [
          'prometheus',
          () => new PrometheusMetricsSource({ url: outer.url }).fetch(query),
          MetricsConfigError,
        ],
      ];
      for (const [name, call, kind] of calls) {
        await assert.rejects(call(), (err: Error) => {
          assert.ok(err instanceof kind, `${name}: ${err.name} ${err.message}`);
          assert.match(err.message, /redirect/);
          assert.ok(!err.message.includes('token=abc'), err.message);
          return true;
        });
      }
      assert.equal(inner.hits.length, 0);
    } finally {
      await inner.close();
      await outer.close();
    }
  });

  it('keep only the JSON error field of a refusal, never the raw body', async () => {
    const html = await server((res) => {
      res.writeHead(403, { 'content-type': 'text/html' });
      res.end('<html>internal admin panel 10.1.2.3 secret-banner</html>');
    });
    const json = await server((res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'unknown agent "bot"\u001b[2J', extra: 'secret-banner' }));
    });
    try {
      for (const url of [html.url, json.url]) {
        for (const call of [
          () => new GatewayRouter({ url, token: 't' }).setSplit('bot', desired),
          () => new GatewayMetricsSource({ url, token: 't' }).fetch(query),
        ]) {
          await assert.rejects(call(), (err: Error) => {
            assert.ok(err instanceof RouterConfigError || err instanceof MetricsConfigError, err.message);
            assert.ok(
              !err.message.includes('secret-banner') && !err.message.includes('10.1.2.3'),
              err.message,
            );
            assert.ok(!err.message.includes('\u001b'), JSON.stringify(err.message));
            return true;
          });
        }
      }
    } finally {
      await html.close();
      await json.close();
    }
  });

  it('refuse non-http(s) backend URLs without calling anything', async () => {
    await assert.rejects(
      new GatewayRouter({ url: 'file:///etc', token: 't' }).getSplit('bot'),
      (err: Error) => err instanceof RouterConfigError && /http/.test(err.message),
    );
    await assert.rejects(
      new GatewayMetricsSource({ url: 'gopher://127.0.0.1:1', token: 't' }).fetch(query),
      (err: Error) => err instanceof MetricsConfigError,
    );
  });

  it('sign the webhook router request over method, target and a nonce, so a capture cannot be replayed', async () => {
    const secret = 'router-secret-0123456789';
    const nonces = new NonceCache();
    const seen: { method: string; target: string; body: string; headers: Record<string, string> }[] = [];
    const s = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const h = req.headers as Record<string, string>;
        seen.push({ method: req.method!, target: req.url!, body, headers: h });
        const ok = verifyRequestSignature({
          secret,
          method: req.method!,
          target: req.url!,
          body,
          timestamp: h[HEADER_TIMESTAMP],
          nonce: h[HEADER_NONCE],
          signature: h[HEADER_REQUEST_SIGNATURE],
          nonces,
        });
        res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
        res.end(ok ? '' : '{"error":"bad signature"}');
      });
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}/router`;
    try {
      const router = new WebhookRouter({ url, secret });
      await router.setSplit('bot', desired);
      const first = seen[0];
      const check = (patch: Partial<typeof first>, fresh = new NonceCache()) =>
        verifyRequestSignature({
          secret,
          method: patch.method ?? first.method,
          target: patch.target ?? first.target,
          body: patch.body ?? first.body,
          timestamp: first.headers[HEADER_TIMESTAMP],
          nonce: first.headers[HEADER_NONCE],
          signature: first.headers[HEADER_REQUEST_SIGNATURE],
          nonces: fresh,
        });
      assert.equal(check({}), true, 'the capture verifies once against a fresh cache');
      assert.equal(check({ method: 'PUT' }), false);
      assert.equal(check({ target: '/router?agent=other' }), false);
      assert.equal(check({ body: first.body.replace('"canaryWeight":5', '"canaryWeight":50') }), false);
      // The same capture replayed against the receiver that saw it: refused.
      assert.equal(check({}, nonces), false);
      assert.notEqual(seen[0].headers[HEADER_NONCE], undefined);
    } finally {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  });
});
