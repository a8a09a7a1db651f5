// Gateway replicas behind a load balancer (issue: "a gateway that scales out"): three
// `agent-canary gateway` processes sharing a PostgreSQL, Debian's HAProxy in front. Each property a
// team depends on when it runs more than one gateway, with the figures printed.
import { strict as assert } from 'node:assert';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { RunningPostgres } from '../src/temporal/postgres-db';
import { eventually } from './harness';
import { TOKEN, adminHeaders, pool, startUpstream, twoVersionConfig, type Upstream } from './gateway-support';
import {
  startHaproxy,
  startReplica,
  startSharedDatabase,
  stopProcess,
  type Replica,
} from './replicas-support';
import { requirePrerequisites } from './support/prerequisites';

interface Split {
  stable: string;
  canary: string | null;
  canaryWeight: number;
  replicas?: { live: number; confirmed: number };
  error?: string;
}

async function put(url: string, body: unknown): Promise<{ status: number; body: Split; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/admin/agents/bot/split`, {
    method: 'PUT',
    headers: adminHeaders(),
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Split, ms: performance.now() - t0 };
}

async function split(url: string): Promise<Split> {
  const res = await fetch(`${url}/v1/admin/agents/bot/split`, { headers: adminHeaders() });
  return (await res.json()) as Split;
}

async function requestsSeen(url: string, since: number): Promise<number> {
  const res = await fetch(`${url}/v1/admin/agents/bot/metrics?since=${since}&until=${Date.now() + 1000}`, {
    headers: adminHeaders(),
  });
  const body = (await res.json()) as { versions: Record<string, { requests: number }> };
  return Object.values(body.versions).reduce((n, v) => n + v.requests, 0);
}

async function invoke(url: string): Promise<{ version: string; requestId: string }> {
  const res = await fetch(`${url}/v1/agents/bot/invoke`, { method: 'POST', body: '{}' });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { version: string };
  return { version: body.version, requestId: res.headers.get('x-request-id')! };
}

async function feedback(url: string, requestId: string, taskSuccess: boolean) {
  const res = await fetch(`${url}/v1/feedback`, {
    method: 'POST',
    headers: adminHeaders(TOKEN),
    body: JSON.stringify({ requestId, taskSuccess }),
  });
  return { status: res.status, body: (await res.json()) as { version?: string; error?: string } };
}

function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

describe('gateway replicas behind HAProxy, sharing PostgreSQL', function () {
  this.timeout(120_000);
  let dir: string;
  let db: RunningPostgres;
  let databaseUrl: string;
  let v1: Upstream;
  let v2: Upstream;
  let replicas: Replica[] = [];
  let lb: { url: string; child: ChildProcess };
  let decidedAt = Date.now();
  const canaryAt = (weight: number) => ({
    stable: 'v1',
    canary: 'v2',
    canaryWeight: weight,
    leaseMs: 120_000,
    decidedAt: ++decidedAt,
  });
  const rollback = () => ({
    stable: 'v1',
    canary: null,
    canaryWeight: 0,
    leaseMs: null,
    decidedAt: ++decidedAt,
  });

  before(async function () {
    requirePrerequisites(this, 'postgres', 'haproxy');
    this.timeout(180_000);
    dir = mkdtempSync(join(tmpdir(), 'ac-replicas-'));
    chmodSync(dir, 0o711); // PostgreSQL runs as its own account and must enter this folder
    ({ pg: db, url: databaseUrl } = await startSharedDatabase(dir));
    v1 = await startUpstream('v1');
    v2 = await startUpstream('v2');
    const config = join(dir, 'gateway.json');
    writeFileSync(config, JSON.stringify(twoVersionConfig(v1, v2)));
    replicas = await Promise.all(['r1', 'r2', 'r3'].map((id) => startReplica(id, config, databaseUrl)));
    lb = await startHaproxy(dir, replicas);
  });

  after(async () => {
    for (const r of replicas) {
      try {
        process.kill(r.child.pid!, 'SIGCONT');
      } catch {
        // already gone
      }
      await stopProcess(r.child);
    }
    if (lb) await stopProcess(lb.child);
    await v1?.close();
    await v2?.close();
    await db?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies a split written through the load balancer on every replica before confirming it', async () => {
    const took: number[] = [];
    for (let i = 0; i < 10; i++) {
      const weight = i % 2 === 0 ? 25 : 50;
      const r = await put(lb.url, canaryAt(weight));
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body.replicas, { live: 3, confirmed: 3 });
      took.push(r.ms);
      // Confirmed means served: each replica answers with it now, without waiting.
      for (const rep of replicas) assert.equal((await split(rep.url)).canaryWeight, weight, rep.id);
    }
    console.log(
      `      split write to all 3 replicas confirmed: p50 ${percentile(took, 0.5).toFixed(0)} ms, ` +
        `max ${Math.max(...took).toFixed(0)} ms (n=${took.length})`,
    );
    assert.ok(Math.max(...took) < 1000, `propagation max ${Math.max(...took)} ms is over 1 s`);
  });

  it('joins feedback whichever replica receives it, once per request', async () => {
    const served = await invoke(replicas[0].url);
    const joined = await feedback(replicas[1].url, served.requestId, true);
    assert.equal(joined.status, 200, JSON.stringify(joined.body));
    assert.equal(joined.body.version, served.version);
    const again = await feedback(replicas[2].url, served.requestId, false);
    assert.equal(again.status, 409, 'a second taskSuccess for the same request, at another replica');
    const unknown = await feedback(replicas[2].url, 'never-served-1', true);
    assert.equal(unknown.status, 404);
  });

  it('gives the judge the sum over replicas', async () => {
    // A window of whole seconds of its own: the metrics API counts a second that starts inside.
    const since = Math.ceil(Date.now() / 1000) * 1000;
    await eventually(
      () => Date.now(),
      (t) => t >= since,
      { intervalMs: 20, what: 'the next second' },
    );
    await pool(60, 6, () => invoke(lb.url));
    const counted = await eventually(
      () => requestsSeen(replicas[2].url, since),
      (n) => n === 60,
      { timeoutMs: 5_000, what: 'all 60 requests in the metrics' },
    );
    assert.equal(counted, 60);
    // Each replica served a part: the answer above is a sum, not one replica's count.
    const perReplica = await Promise.all(
      replicas.map(async (r) => {
        const text = await (await fetch(`${r.url}/metrics`)).text();
        return [...text.matchAll(/^agent_canary_requests_total\{[^}]*\} (\d+)/gm)].reduce(
          (n, m) => n + Number(m[1]),
          0,
        );
      }),
    );
    assert.ok(
      perReplica.every((n) => n > 0),
      `requests per replica: ${perReplica.join(', ')}`,
    );
  });

  it('confirms a rollback only when every live replica serves 100% stable; a frozen replica serves stable when it wakes', async () => {
    assert.equal((await put(replicas[0].url, canaryAt(50))).status, 200);
    const frozen = replicas[2];
    process.kill(frozen.child.pid!, 'SIGSTOP');
    const stoppedAt = Date.now();
    try {
      const first = await put(replicas[0].url, rollback());
      if (first.status === 503) {
        assert.match(first.body.error!, /r3/, 'the answer names the replica that has not applied it');
      } else {
        assert.equal(first.status, 200);
        assert.deepEqual(first.body.replicas, { live: 2, confirmed: 2 }, 'r3 counted only once it is gone');
      }
      // The router retries until confirmed: once r3's heartbeat is over 3 s old it no longer counts.
      const confirmed = await eventually(
        () => put(replicas[0].url, rollback()),
        (r) => r.status === 200,
        { timeoutMs: 10_000, intervalMs: 200, what: 'the rollback confirmed by the live replicas' },
      );
      assert.deepEqual(confirmed.body.replicas, { live: 2, confirmed: 2 });
      for (const rep of replicas.slice(0, 2)) assert.equal((await split(rep.url)).canary, null);
      console.log(
        `      rollback confirmed by the 2 live replicas ${Date.now() - stoppedAt} ms after r3 froze`,
      );
    } finally {
      process.kill(frozen.child.pid!, 'SIGCONT');
    }
    // Woken after over 3 s without a heartbeat the shared state, r3 routes to stable until it has read
    // it again, so it never serves the share the others withdrew.
    const after = await Promise.all(Array.from({ length: 10 }, () => invoke(frozen.url)));
    assert.deepEqual(new Set(after.map((a) => a.version)), new Set(['v1']));
    await eventually(
      () => put(lb.url, rollback()),
      (r) => r.status === 200 && r.body.replicas?.live === 3,
      { timeoutMs: 10_000, intervalMs: 200, what: 'r3 live again' },
    );
  });

  it('loses no split and no reported metric with a replica', async () => {
    assert.equal((await put(lb.url, canaryAt(25))).status, 200);
    const since = Math.ceil(Date.now() / 1000) * 1000;
    await eventually(
      () => Date.now(),
      (t) => t >= since,
      { intervalMs: 20, what: 'the next second' },
    );
    const victim = replicas[1];
    await pool(30, 5, () => invoke(victim.url));
    // Reported = in the shared table, which takes up to a second.
    await eventually(
      () => requestsSeen(replicas[0].url, since),
      (n) => n === 30,
      { timeoutMs: 5_000, what: "the victim's 30 requests reported" },
    );
    await stopProcess(victim.child, 'SIGKILL');
    assert.equal(await requestsSeen(replicas[0].url, since), 30);
    for (const rep of [replicas[0], replicas[2]]) assert.equal((await split(rep.url)).canaryWeight, 25);
    // Traffic through the load balancer keeps flowing on the others.
    const served = await Promise.all(Array.from({ length: 10 }, () => invoke(lb.url)));
    assert.equal(served.length, 10);
  });
});
