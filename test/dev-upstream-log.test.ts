// `dev` logs the requests an upstream failed, through the gateway's hook, without flooding: the
// first failure at once, then at most one line per upstream per window, with the count.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { upstreamFailureLog } from '../src/cli/dev-output';
import { startGateway, type RunningGateway } from '../src/gateway';
import { startSimulatedAgent, type SimulatedAgent } from '../src/demo/agents';
import { healthyProfile } from '../src/demo/profiles';
import { closedPort } from './cli-support';

const WINDOW_MS = 2_000;

async function until(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('dev: upstream failures in the log', () => {
  let gateway: RunningGateway | undefined;
  let alive: SimulatedAgent | undefined;
  const lines: string[] = [];
  const log = upstreamFailureLog((l) => lines.push(l), { everyMs: WINDOW_MS });

  before(async () => {
    alive = await startSimulatedAgent({ ...healthyProfile('v1'), seed: 1 });
    gateway = await startGateway({
      host: '127.0.0.1',
      adminToken: randomBytes(16).toString('hex'),
      ingestToken: null,
      config: {
        agents: {
          'dead-bot': { stable: 'v1', versions: { v1: `http://127.0.0.1:${await closedPort()}` } },
          'live-bot': { stable: 'v1', versions: { v1: alive.url } },
        },
      },
      onUpstreamFailure: log.record,
    });
  });

  after(async () => {
    log.close();
    await gateway?.close();
    await alive?.close();
  });

  const invoke = (agent: string) =>
    fetch(`${gateway!.url}/v1/agents/${agent}/invoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"q":"hi"}',
    }).then(async (r) => ({ status: r.status, body: await r.text() }));

  it('one line at once, then one line with the count of a burst, and nothing for answered requests', async () => {
    const first = await invoke('dead-bot');
    assert.equal(first.status, 502);
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(
      lines[0],
      /upstream dead-bot v1: a request failed \(502 to the client\): .*ECONNREFUSED|refused/i,
    );

    const started = Date.now();
    const burst = await Promise.all(Array.from({ length: 20 }, () => invoke('dead-bot')));
    assert.ok(burst.every((r) => r.status === 502));
    for (let i = 0; i < 5; i++) assert.equal((await invoke('live-bot')).status, 200);

    // Every failure is counted once, in at most one line per window (a loaded machine may spread
    // the burst over two windows).
    const counted = () => lines.reduce((n, l) => n + Number(/: (\d+) requests failed/.exec(l)?.[1] ?? 1), 0);
    await until('the burst summary', () => counted() === 21);
    const windows = Math.ceil((Date.now() - started) / WINDOW_MS) + 1;
    assert.ok(lines.length <= 1 + windows, lines.join('\n'));
    assert.match(
      lines.at(-1)!,
      /upstream dead-bot v1: \d+ requests failed in the last 2 s \(502 to the client\)/,
    );
    assert.ok(!lines.some((l) => l.includes('live-bot')));
  });
});
