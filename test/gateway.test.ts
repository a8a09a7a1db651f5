import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatewayConfigError, bucketOf, loadGatewayConfig } from '../src/gateway';
import {
  gateway,
  invoke,
  pool,
  putSplit,
  startUpstream,
  twoVersionConfig,
  twoVersionFixture,
} from './gateway-support';

const LEASE = { leaseMs: 60_000 };

describe('gateway config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-config-'));
  const write = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('loads YAML with per-version URLs and with one URL plus a version header', () => {
    const cfg = loadGatewayConfig(
      write(
        'ok.yaml',
        [
          'agents:',
          '  bot:',
          '    stable: v1',
          '    versions: { v1: "http://127.0.0.1:9001", v2: { upstream: "http://127.0.0.1:9002/x" } }',
          '    timeout: 5s',
          '  shared:',
          '    stable: a',
          '    upstream: http://127.0.0.1:9000/agent',
          '    versions: [a, b]',
          '    versionHeader: X-Model-Version',
        ].join('\n'),
      ),
    );
    assert.equal(cfg.agents.get('bot')!.versions.get('v2')!.href, 'http://127.0.0.1:9002/x');
    assert.equal(cfg.agents.get('bot')!.timeoutMs, 5000);
    assert.equal(cfg.agents.get('shared')!.versions.get('b')!.href, 'http://127.0.0.1:9000/agent');
    assert.equal(cfg.agents.get('shared')!.versionHeader, 'x-model-version');
  });

  it('names every bad field, and says when the file is not YAML/JSON', () => {
    const bad = write(
      'bad.json',
      JSON.stringify({
        agents: {
          bot: { stable: 'v9', versions: { v1: 'ftp://x', v2: {} } },
          other: { stable: 'a', versions: ['a'], timeout: 'soon' },
        },
      }),
    );
    assert.throws(
      () => loadGatewayConfig(bad),
      (err: unknown) => {
        assert.ok(err instanceof GatewayConfigError);
        const fields = err.problems.map((p) => p.field);
        assert.ok(fields.includes('agents.bot.versions.v1'), fields.join());
        assert.ok(fields.includes('agents.other.timeout'), fields.join());
        return true;
      },
    );
    // Second pass (after the schema): missing upstream and unknown stable.
    assert.throws(
      () =>
        loadGatewayConfig(write('bad2.yaml', 'agents:\n  bot:\n    stable: v9\n    versions: { v1: {} }\n')),
      (err: unknown) => {
        assert.ok(err instanceof GatewayConfigError);
        assert.match(err.message, /agents\.bot\.versions\.v1: has no upstream/);
        assert.match(err.message, /agents\.bot\.stable: "v9" is not one of the versions/);
        return true;
      },
    );
    assert.throws(
      () => loadGatewayConfig(write('broken.yaml', 'agents: [unclosed')),
      /not valid YAML or JSON/,
    );
    assert.throws(() => loadGatewayConfig(join(dir, 'missing.yaml')), /cannot read/);
  });
});

describe('gateway routing and proxy', function () {
  const f = twoVersionFixture();

  it('sends everything to stable until a split says otherwise, with version and request id headers', async () => {
    const results = await pool(50, 10, () => invoke(f.gw, 'bot'));
    for (const r of results) {
      assert.equal(r.status, 200);
      assert.equal(r.version, 'v1');
      assert.equal(JSON.parse(r.text).version, 'v1');
      assert.ok(r.requestId);
    }
    assert.equal(new Set(results.map((r) => r.requestId)).size, 50);
    assert.equal(f.v2.requests, 0);
  });

  it('observed canary share matches the weight over thousands of keyless requests', async () => {
    assert.equal(
      (await putSplit(f.gw, 'bot', { stable: 'v1', canary: 'v2', canaryWeight: 20, ...LEASE })).status,
      200,
    );
    const n = 4000;
    const results = await pool(n, 32, () => invoke(f.gw, 'bot'));
    const canary = results.filter((r) => r.version === 'v2').length;
    // The answering upstream agrees with the header.
    assert.ok(results.every((r) => JSON.parse(r.text).version === r.version));
    const sd = Math.sqrt((0.2 * 0.8) / n);
    assert.ok(Math.abs(canary / n - 0.2) < 4 * sd, `canary share ${canary / n}, expected 0.2 ± ${4 * sd}`);
  });

  it('fractional weights: 0.5% of session keys land on the canary', () => {
    const n = 200_000;
    let canary = 0;
    for (let i = 0; i < n; i++) if (bucketOf('bot', `session-${i}`) < 0.5) canary++;
    const sd = Math.sqrt((0.005 * 0.995) / n);
    assert.ok(Math.abs(canary / n - 0.005) < 4 * sd, `share ${canary / n}`);
  });

  it('keeps each session on its version while the weight grows', async () => {
    const sessions = Array.from({ length: 600 }, (_, i) => `conv-${i}`);
    await putSplit(f.gw, 'bot', { stable: 'v1', canary: 'v2', canaryWeight: 10, ...LEASE });
    const first = await pool(sessions.length, 32, (i) => invoke(f.gw, 'bot', sessions[i]));
    const again = await pool(sessions.length, 32, (i) => invoke(f.gw, 'bot', sessions[i]));
    assert.deepEqual(
      again.map((r) => r.version),
      first.map((r) => r.version),
      'same key, same weight, same version',
    );
    await putSplit(f.gw, 'bot', { stable: 'v1', canary: 'v2', canaryWeight: 40, ...LEASE });
    const later = await pool(sessions.length, 32, (i) => invoke(f.gw, 'bot', sessions[i]));
    const movedBack = sessions.filter((_, i) => first[i].version === 'v2' && later[i].version !== 'v2');
    assert.deepEqual(movedBack, [], 'a canary conversation must stay on the canary as the weight grows');
    const share10 = first.filter((r) => r.version === 'v2').length / sessions.length;
    const share40 = later.filter((r) => r.version === 'v2').length / sessions.length;
    assert.ok(Math.abs(share10 - 0.1) < 0.05, `share at 10%: ${share10}`);
    assert.ok(Math.abs(share40 - 0.4) < 0.08, `share at 40%: ${share40}`);

    // GET /route agrees with the proxy for the same key.
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${f.gw.url}/v1/agents/bot/route?key=${sessions[i]}`);
      assert.deepEqual(await res.json(), { agent: 'bot', version: later[i].version });
    }
  });

  it('forwards subpath, query, body and the version header; passes the status through', async () => {
    const res = await fetch(`${f.gw.url}/v1/agents/bot/invoke/chat/stream?lang=en`, {
      method: 'POST',
      headers: { 'x-custom': 'kept', 'x-request-id': 'client-chosen-1' },
      body: 'hello upstream',
    });
    const seen = (await res.json()) as { path: string; body: string; headers: Record<string, string> };
    assert.equal(seen.path, '/chat/stream?lang=en');
    assert.equal(seen.body, 'hello upstream');
    assert.equal(seen.headers['x-custom'], 'kept');
    assert.equal(seen.headers['x-agent-version'], 'v1');
    assert.equal(seen.headers['x-request-id'], 'client-chosen-1');
    assert.equal(res.headers.get('x-request-id'), 'client-chosen-1');

    const unknown = await fetch(`${f.gw.url}/v1/agents/nobody/invoke`, { method: 'POST', body: '{}' });
    assert.equal(unknown.status, 404);
    assert.match(((await unknown.json()) as { error: string }).error, /unknown agent "nobody"/);
  });

  it('answers 502 naming the version when its upstream is down, and counts the error', async () => {
    await putSplit(f.gw, 'bot', { stable: 'v1', canary: 'v2', canaryWeight: 100, ...LEASE });
    await f.v2.close();
    const r = await invoke(f.gw, 'bot');
    assert.equal(r.status, 502);
    assert.equal(r.version, 'v2');
    assert.ok(r.requestId);
    assert.match(JSON.parse(r.text).error, /version v2 failed/);
    const m = await fetch(`${f.gw.url}/metrics`).then((x) => x.text());
    assert.match(m, /agent_canary_errors_total\{agent="bot",version="v2"\} 1\n/);
    assert.match(m, /agent_canary_requests_total\{agent="bot",version="v2"\} 1\n/);
  });
});

describe('gateway streaming and timeouts', () => {
  const servers: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });

  it('passes Server-Sent Events through token by token', async () => {
    // The upstream sends the first event, then holds the rest until the client has seen it.
    let clientSawFirst!: () => void;
    const firstSeen = new Promise<void>((r) => (clientSawFirst = r));
    let upstreamSentLast = false;
    const up = await startUpstream('v1', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('data: {"token":"Hel"}\n\n');
      void firstSeen.then(() => {
        res.write('data: {"token":"lo"}\n\n');
        upstreamSentLast = true;
        res.end('data: [DONE]\n\n');
      });
    });
    servers.push(up);
    const other = await startUpstream('v2');
    servers.push(other);
    const gw = await gateway({ config: twoVersionConfig(up, other) });
    servers.push(gw);

    const res = await fetch(`${gw.url}/v1/agents/bot/invoke`, { method: 'POST', body: '{}' });
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    assert.equal(res.headers.get('x-agent-version'), 'v1');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const deadline = setTimeout(() => void reader.cancel(), 5000);
    while (!text.includes('\n\n')) {
      const { value, done } = await reader.read();
      assert.ok(!done, 'stream ended (or was buffered past 5 s) before the first event arrived');
      text += decoder.decode(value, { stream: true });
    }
    assert.equal(upstreamSentLast, false, 'first event must arrive before the upstream sends the last');
    assert.equal(text, 'data: {"token":"Hel"}\n\n');
    clientSawFirst();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    clearTimeout(deadline);
    assert.equal(text, 'data: {"token":"Hel"}\n\ndata: {"token":"lo"}\n\ndata: [DONE]\n\n');
  });

  it('gives up on a silent upstream after the configured timeout with a 502', async () => {
    const silent = http.createServer(() => {
      /* never answers */
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    servers.push({
      close: () =>
        new Promise<void>((r) => {
          silent.close(() => r());
          silent.closeAllConnections();
        }),
    });
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const gw = await gateway({
      config: { agents: { bot: { stable: 'v1', versions: { v1: url }, timeout: '300ms' } } },
    });
    servers.push(gw);
    const t0 = Date.now();
    const r = await invoke(gw, 'bot');
    const took = Date.now() - t0;
    assert.equal(r.status, 502);
    assert.match(JSON.parse(r.text).error, /v1 failed: no answer within 300 ms/);
    assert.ok(took >= 250 && took < 3000, `took ${took} ms`);
  });

  it('breaks the client stream (no clean end) when the upstream dies or stalls mid-stream; counts errors', async () => {
    const dying = await startUpstream('v1', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: a\n\n');
      setTimeout(() => res.socket!.destroy(), 100);
    });
    const stalling = await startUpstream('v2', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: a\n\n');
    });
    servers.push(dying, stalling);
    const gw = await gateway({
      config: {
        agents: { bot: { stable: 'v1', versions: { v1: dying.url, v2: stalling.url }, timeout: '500ms' } },
      },
    });
    servers.push(gw);
    const outcome = () =>
      new Promise<{ how: string; body: string }>((resolve) => {
        http
          .request(`${gw.url}/v1/agents/bot/invoke`, { method: 'POST' }, (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () => resolve({ how: 'end', body }));
            res.on('error', () => resolve({ how: 'error', body }));
          })
          .end('{}');
      });
    assert.deepEqual(await outcome(), { how: 'error', body: 'data: a\n\n' });
    await putSplit(gw, 'bot', { stable: 'v1', canary: 'v2', canaryWeight: 100, ...LEASE });
    assert.deepEqual(await outcome(), { how: 'error', body: 'data: a\n\n' });
    const m = await fetch(`${gw.url}/metrics`).then((r) => r.text());
    assert.match(m, /agent_canary_errors_total\{agent="bot",version="v1"\} 1\n/);
    assert.match(m, /agent_canary_errors_total\{agent="bot",version="v2"\} 1\n/);
  });

  it('passes the version in a header when all versions share one upstream URL', async () => {
    const shared = await startUpstream('shared');
    servers.push(shared);
    const gw = await gateway({
      config: {
        agents: {
          bot: {
            stable: 'a',
            upstream: `${shared.url}/agent`,
            versions: ['a', 'b'],
            versionHeader: 'x-model',
          },
        },
      },
    });
    servers.push(gw);
    await putSplit(gw, 'bot', { stable: 'a', canary: 'b', canaryWeight: 100, ...LEASE });
    const r = await invoke(gw, 'bot');
    const seen = JSON.parse(r.text) as { path: string; headers: Record<string, string> };
    assert.equal(seen.headers['x-model'], 'b');
    assert.equal(seen.path, '/agent');
    assert.equal(r.version, 'b');
  });
});
