// The one failure table (src/http-failure.ts) and the callers that follow it, against real local HTTP
// servers: the gateway router, both Prometheus sources, the gateway metrics source and notification
// delivery each call an answer "configuration" (fail at once) exactly when the table does, and
// prometheus-query, which once called plain fetch, refuses a redirect instead of following it.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { errorKind, isRetryable, statusKind } from '../src/http-failure';
import { GatewayMetricsSource } from '../src/metrics/gateway';
import { PrometheusMetricsSource } from '../src/metrics/prometheus';
import { parseQueryConfig, PrometheusQueryMetricsSource } from '../src/metrics/prometheus-query';
import { MetricsConfigError, type MetricsQuery } from '../src/metrics/types';
import { postWithRetry } from '../src/notify/deliver';
import { OutboundUrlError, RedirectRefusedError, outboundFetch } from '../src/outbound';
import { GatewayRouter } from '../src/router/gateway';
import { RouterConfigError } from '../src/router/types';
import { freePort } from '../src/temporal/devserver';

describe('the HTTP failure table', () => {
  it('sorts statuses into configuration, retryable and outage', () => {
    for (const s of [200, 201, 204]) assert.equal(statusKind(s), undefined, String(s));
    for (const s of [301, 302, 307, 308, 400, 401, 403, 404, 405, 409, 410, 422])
      assert.equal(statusKind(s), 'configuration', String(s));
    for (const s of [408, 425, 429]) assert.equal(statusKind(s), 'retryable', String(s));
    for (const s of [500, 502, 503, 504, 599]) assert.equal(statusKind(s), 'outage', String(s));
  });

  it('sorts errors by type and code; an unknown error is an outage, never configuration', () => {
    const coded = (code: string) => Object.assign(new TypeError('fetch failed'), { cause: { code } });
    assert.equal(errorKind(new OutboundUrlError('is not a URL')), 'configuration');
    assert.equal(errorKind(new RedirectRefusedError(302)), 'configuration');
    assert.equal(errorKind(new DOMException('timed out', 'TimeoutError')), 'outage');
    assert.equal(errorKind(coded('ECONNREFUSED')), 'outage');
    assert.equal(errorKind(coded('ENOTFOUND')), 'outage');
    assert.equal(errorKind(coded('ECONNRESET')), 'retryable');
    assert.equal(errorKind(coded('EAI_AGAIN')), 'retryable');
    assert.equal(errorKind(coded('CERT_HAS_EXPIRED')), 'configuration');
    assert.equal(errorKind(coded('DEPTH_ZERO_SELF_SIGNED_CERT')), 'configuration');
    assert.equal(errorKind(Object.assign(new Error('socket'), { code: 'EPIPE' })), 'retryable');
    assert.equal(errorKind(new Error('something new')), 'outage');
    assert.equal(errorKind(undefined), 'outage');
    assert.equal(isRetryable('configuration'), false);
    assert.equal(isRetryable('retryable'), true);
    assert.equal(isRetryable('outage'), true);
  });

  it('a refused connection on a real socket is an outage', async () => {
    const port = await freePort();
    const err = await outboundFetch(`http://127.0.0.1:${port}/`, { timeoutMs: 5_000 }).then(
      () => assert.fail('expected a refusal'),
      (e: unknown) => e,
    );
    assert.equal(errorKind(err), 'outage');
  });
});

describe('callers follow the table (real HTTP servers)', () => {
  let server: Server;
  let base: string;
  /** The status the next answers carry; 3xx answers point at `elsewhere`. */
  let status = 200;
  let elsewhere: Server;
  let elsewhereUrl: string;
  let elsewhereHits = 0;

  before(async () => {
    const listen = async (handler: (req: IncomingMessage, res: ServerResponse) => void) => {
      const s = createServer(handler);
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      return { s, url: `http://127.0.0.1:${(s.address() as { port: number }).port}` };
    };
    const other = await listen((req, res) => {
      elsewhereHits += 1;
      req.resume();
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [] } }));
    });
    elsewhere = other.s;
    elsewhereUrl = other.url;
    const main = await listen((req, res) => {
      req.resume();
      if (status >= 300 && status < 400) res.setHeader('location', `${elsewhereUrl}${req.url ?? '/'}`);
      res.statusCode = status;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ status: 'error', error: `answered ${status}` }));
    });
    server = main.s;
    base = main.url;
  });

  after(async () => {
    await new Promise((r) => server.close(r));
    await new Promise((r) => elsewhere.close(r));
  });

  const query: MetricsQuery = { agent: 'bot', stable: 'v1', canary: 'v2', since: 0, until: 60_000 };
  const config = parseQueryConfig({
    metrics: {
      error_rate: {
        kind: 'proportion',
        total: 'sum(requests_total{version="{{version}}"})',
        bad: 'sum(errors_total{version="{{version}}"})',
      },
    },
  });
  /** Each caller's failure for the current status: true when it gave up (configuration). */
  const callers: Record<string, () => Promise<boolean>> = {
    'gateway router': () =>
      new GatewayRouter({ url: base, token: 'x'.repeat(32), timeoutMs: 5_000 })
        .setSplit('bot', { stable: 'v1', canary: 'v2', canaryWeight: 5, leaseMs: 60_000 })
        .then(
          () => assert.fail('expected a failure'),
          (e: unknown) => e instanceof RouterConfigError,
        ),
    'gateway metrics': () =>
      new GatewayMetricsSource({ url: base, token: 'x'.repeat(32), timeoutMs: 5_000 }).fetch(query).then(
        () => assert.fail('expected a failure'),
        (e: unknown) => e instanceof MetricsConfigError,
      ),
    prometheus: () =>
      new PrometheusMetricsSource({ url: base, timeoutMs: 5_000 }).fetch(query).then(
        () => assert.fail('expected a failure'),
        (e: unknown) => e instanceof MetricsConfigError,
      ),
    'prometheus-query': () =>
      new PrometheusQueryMetricsSource({ url: base, config }).fetch(query).then(
        () => assert.fail('expected a failure'),
        (e: unknown) => e instanceof MetricsConfigError,
      ),
    notify: () =>
      postWithRetry(base, '{}', () => ({}), {
        attempts: 2,
        attemptTimeoutMs: 2_000,
        backoffMs: 10,
        budgetMs: 4_000,
      }).then(
        () => assert.fail('expected a failure'),
        (e: Error) => /refused the notification/.test(e.message),
      ),
  };

  for (const s of [302, 307, 400, 401, 404, 408, 429, 500, 503]) {
    it(`HTTP ${s}: every caller ${isRetryable(statusKind(s)) ? 'retries' : 'gives up'}`, async () => {
      status = s;
      const expected = !isRetryable(statusKind(s));
      for (const [name, call] of Object.entries(callers)) {
        assert.equal(await call(), expected, `${name} on HTTP ${s}`);
      }
      // A redirect is an answer, never followed: the server it points at heard nothing.
      assert.equal(elsewhereHits, 0);
    });
  }

  it('prometheus-query refuses a redirect, naming it, and sends nothing to its target', async () => {
    status = 301;
    const err = await new PrometheusQueryMetricsSource({
      url: base,
      config,
      headers: { authorization: 'Bearer secret-token' },
    })
      .fetch(query)
      .then(
        () => assert.fail('expected a refusal'),
        (e: Error) => e,
      );
    assert.ok(err instanceof MetricsConfigError, String(err));
    assert.match(err.message, /HTTP 301 \(a redirect; redirects are not followed\)/);
    assert.equal(elsewhereHits, 0);
    // The same source against the target directly works: the refusal was the redirect's.
    const w = await new PrometheusQueryMetricsSource({ url: elsewhereUrl, config }).fetch(query);
    assert.equal(w.stable.requests, 0);
    assert.ok(elsewhereHits > 0);
    elsewhereHits = 0;
  });
});
