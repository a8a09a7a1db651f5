// Metrics survive a gateway restart: a stage is judged on its whole window, not on what the
// process counted since it came back (a 23 s restart once let a stage pass on 8 s of data).
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from './harness';
import {
  TOKEN,
  adminHeaders,
  gateway,
  pool,
  startUpstream,
  twoVersionConfig,
  type Upstream,
} from './gateway-support';

interface MetricsAnswer {
  dataSince: number;
  versions: Record<string, { requests: number; errors: number; latencyMs: { count: number } }>;
}

async function metrics(url: string, since: number): Promise<MetricsAnswer> {
  const res = await fetch(`${url}/v1/admin/agents/bot/metrics?since=${since}&until=${Date.now() + 1000}`, {
    headers: adminHeaders(),
  });
  assert.equal(res.status, 200);
  return (await res.json()) as MetricsAnswer;
}

async function invoke(url: string, n: number): Promise<void> {
  await pool(n, 5, async () => {
    const res = await fetch(`${url}/v1/agents/bot/invoke`, { method: 'POST', body: '{}' });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  });
}

/** Requests the journal file holds (every line after the header). */
function journaled(dir: string): number {
  let text = '';
  try {
    text = readFileSync(join(dir, 'metrics.jsonl'), 'utf8');
  } catch {
    return 0;
  }
  return text
    .split('\n')
    .slice(1)
    .filter((l) => l.endsWith('}'))
    .reduce((n, l) => n + (JSON.parse(l) as { requests: number }).requests, 0);
}

describe('gateway metrics across restarts', function () {
  this.timeout(60_000);
  let v1: Upstream;
  let v2: Upstream;
  let dir: string;
  beforeEach(async () => {
    v1 = await startUpstream('v1');
    v2 = await startUpstream('v2');
    dir = mkdtempSync(join(tmpdir(), 'ac-gw-metrics-'));
  });
  afterEach(async () => {
    await v1.close();
    await v2.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the window and dataSince through a graceful restart', async () => {
    const started = Date.now();
    let gw = await gateway({ config: twoVersionConfig(v1, v2), dataDir: dir });
    await invoke(gw.url, 40);
    const before = await metrics(gw.url, started - 1000);
    assert.equal(before.versions.v1.requests, 40);
    await gw.close();

    gw = await gateway({ config: twoVersionConfig(v1, v2), dataDir: dir });
    try {
      const after = await metrics(gw.url, started - 1000);
      assert.equal(after.versions.v1.requests, 40, 'requests counted before the restart are still there');
      assert.equal(after.versions.v1.latencyMs.count, 40);
      assert.equal(after.dataSince, before.dataSince, 'the data still begins where it began');
      await invoke(gw.url, 10);
      assert.equal((await metrics(gw.url, started - 1000)).versions.v1.requests, 50);
    } finally {
      await gw.close();
    }
  });

  it('keeps every finished second through a SIGKILL of the gateway process', async () => {
    const config = join(dir, 'gateway.json');
    writeFileSync(config, JSON.stringify(twoVersionConfig(v1, v2)));
    const start = () => {
      const child = spawn(
        process.execPath,
        [
          'bin/agent-canary.js',
          'gateway',
          '-c',
          config,
          '--port',
          '0',
          '--data-dir',
          join(dir, 'data'),
          '--token',
          TOKEN,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      const url = eventually(
        () => /gateway on (http:\/\/[^:]+:\d+)/.exec(out)?.[1],
        (u) => u !== undefined,
        { timeoutMs: 30_000, what: 'the gateway to listen' },
      ).then((u) => u!);
      return { child, url };
    };
    const started = Date.now();
    const first = start();
    const url1 = await first.url;
    await invoke(url1, 30);
    // Once a second the finished seconds are written: wait until all 30 are, then kill hard.
    await eventually(
      () => journaled(join(dir, 'data')),
      (n) => n === 30,
      { timeoutMs: 10_000, what: 'the journal to hold all 30 requests' },
    );
    const exited = new Promise((r) => first.child.once('exit', r));
    first.child.kill('SIGKILL');
    await exited;
    const killedAt = Date.now();

    const second = start();
    try {
      const url2 = await second.url;
      const after = await metrics(url2, started - 1000);
      assert.equal(after.versions.v1.requests, 30);
      assert.ok(
        after.dataSince >= started && after.dataSince < killedAt,
        `dataSince ${after.dataSince} is the first process's start, not the second's`,
      );
    } finally {
      const done = new Promise((r) => second.child.once('exit', r));
      second.child.kill('SIGTERM');
      await done;
    }
  });
});
