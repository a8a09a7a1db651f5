import assert from 'node:assert/strict';
import { createSampler, startSimulatedAgent, type SimulatedAgent } from '../src/demo/agents';
import { healthyProfile, regressedProfile, REGRESSIONS } from '../src/demo/profiles';
import { parseOutcome } from '../src/demo/traffic';

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Four standard errors of a proportion: a correct simulator leaves this band about once in 16,000 runs. */
function band(p: number, n: number): number {
  return 4 * Math.sqrt((p * (1 - p)) / n);
}

describe('simulated agent: draws', () => {
  it('matches the profile in error rate, latency quantiles, task success and quality', () => {
    const profile = {
      version: 'v1',
      errorRate: 0.1,
      latencyMs: { median: 100, p99: 500 },
      quality: { mean: 0.8, sd: 0.05 },
      taskSuccessRate: 0.9,
      seed: 7,
    };
    const draw = createSampler(profile);
    const n = 20_000;
    const draws = Array.from({ length: n }, draw);
    const errorRate = draws.filter((d) => d.error).length / n;
    const success = draws.filter((d) => d.outcome.taskSuccess).length / n;
    const quality = draws.reduce((a, d) => a + d.outcome.qualityScore, 0) / n;
    const lat = draws.map((d) => d.latencyMs).sort((a, b) => a - b);
    assert.ok(Math.abs(errorRate - 0.1) < band(0.1, n), `error rate ${errorRate}`);
    assert.ok(Math.abs(success - 0.9) < band(0.9, n), `task success ${success}`);
    assert.ok(Math.abs(quality - 0.8) < 0.005, `quality ${quality}`);
    assert.ok(Math.abs(quantile(lat, 0.5) / 100 - 1) < 0.05, `median ${quantile(lat, 0.5)}`);
    assert.ok(Math.abs(quantile(lat, 0.99) / 500 - 1) < 0.12, `p99 ${quantile(lat, 0.99)}`);
    for (const d of draws) assert.ok(d.outcome.qualityScore >= 0 && d.outcome.qualityScore <= 1);
  });

  it('repeats its sequence for the same seed and differs between versions', () => {
    const a = createSampler({ ...healthyProfile('v1'), seed: 3 });
    const b = createSampler({ ...healthyProfile('v1'), seed: 3 });
    const c = createSampler(healthyProfile('v1'));
    const d = createSampler(healthyProfile('v2'));
    const seq = (f: () => { latencyMs: number }) => Array.from({ length: 5 }, () => f().latencyMs);
    assert.deepEqual(seq(a), seq(b));
    assert.notDeepEqual(seq(c), seq(d));
  });

  it('refuses a bad profile, naming the field', () => {
    assert.throws(
      () => createSampler({ ...healthyProfile('v1'), errorRate: 1.5 }),
      /invalid agent profile: errorRate: .*1/,
    );
    assert.throws(
      () => createSampler({ ...healthyProfile('v1'), latencyMs: { median: 200, p99: 100 } }),
      /latencyMs\.p99: p99 must be at least the median/,
    );
  });

  it('each regression preset is worse than healthy on exactly the metric it names', () => {
    const healthy = healthyProfile('a');
    const changed = (k: (typeof REGRESSIONS)[number]) => {
      const bad = regressedProfile(k, 'b');
      return {
        errors: bad.errorRate > healthy.errorRate,
        latency: bad.latencyMs.p99 > healthy.latencyMs.p99,
        quality: bad.quality.mean < healthy.quality.mean,
        'task-success': bad.taskSuccessRate < healthy.taskSuccessRate,
      };
    };
    for (const k of REGRESSIONS) {
      const c = changed(k);
      assert.deepEqual(
        Object.entries(c)
          .filter(([, worse]) => worse)
          .map(([name]) => name),
        [k],
      );
    }
  });
});

describe('simulated agent: HTTP', () => {
  let agent: SimulatedAgent | undefined;
  afterEach(async () => {
    await agent?.close();
    agent = undefined;
  });

  it('fails at its error rate and answers with its latency distribution', async function () {
    this.timeout(30_000);
    agent = await startSimulatedAgent({
      version: 'v9',
      errorRate: 0.2,
      latencyMs: { median: 30, p99: 120 },
      quality: { mean: 0.8 },
      taskSuccessRate: 0.9,
      seed: 11,
    });
    const n = 400;
    const statuses: number[] = [];
    const latencies: number[] = [];
    let next = 0;
    const worker = async () => {
      while (next < n) {
        next++;
        const t0 = performance.now();
        const res = await fetch(`${agent!.url}/invoke`, { method: 'POST', body: '{"input":"hi"}' });
        const text = await res.text();
        const elapsed = performance.now() - t0;
        latencies.push(elapsed);
        statuses.push(res.status);
        if (res.ok) {
          // The answer reports the time the agent waited before answering, measured on the same
          // clock as the client's: the client cannot have seen the answer any sooner.
          const waited = (JSON.parse(text) as { latencyMs: number }).latencyMs;
          assert.ok(elapsed >= waited, `answered after ${elapsed} ms, the agent says it waited ${waited} ms`);
        }
      }
    };
    // Few concurrent clients: on a busy 2-core machine client overhead would otherwise dominate.
    await Promise.all(Array.from({ length: 5 }, worker));
    const errorRate = statuses.filter((s) => s >= 500).length / n;
    assert.ok(Math.abs(errorRate - 0.2) < band(0.2, n), `error rate ${errorRate}`);
    assert.deepEqual(agent.served(), { requests: n, errors: statuses.filter((s) => s >= 500).length });
    latencies.sort((a, b) => a - b);
    // The distribution itself is checked on the draws (above); over HTTP, a loaded machine only adds
    // delay (1.5x the median seen at a load of 20 on 2 cores), so the lower bounds are the strict
    // ones, and the upper ones catch a wrong unit (seconds for milliseconds), not a busy machine.
    const median = quantile(latencies, 0.5);
    const p90 = quantile(latencies, 0.9);
    const expectedP90 = 30 * Math.pow(120 / 30, 1.2816 / 2.3263);
    assert.ok(median > 30 * 0.85 && median < 30 * 10, `median ${median}`);
    assert.ok(p90 > expectedP90 * 0.8 && p90 < expectedP90 * 10, `p90 ${p90} vs ${expectedP90}`);
  });

  it('answers JSON with its version and the true outcome', async () => {
    agent = await startSimulatedAgent({
      ...healthyProfile('v1.2.3'),
      errorRate: 0,
      latencyMs: { median: 2, p99: 5 },
    });
    const res = await fetch(`${agent.url}/v1/chat`, { method: 'POST', body: '{"input":"hi"}' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-agent-version'), 'v1.2.3');
    const body = (await res.json()) as { version: string; output: string; outcome: Record<string, unknown> };
    assert.equal(body.version, 'v1.2.3');
    assert.ok(body.output.length > 0);
    assert.equal(typeof body.outcome.taskSuccess, 'boolean');
    assert.ok((body.outcome.qualityScore as number) >= 0 && (body.outcome.qualityScore as number) <= 1);
  });

  it('streams tokens over SSE when asked, ending with the outcome', async () => {
    agent = await startSimulatedAgent({
      ...healthyProfile('v2'),
      errorRate: 0,
      latencyMs: { median: 20, p99: 40 },
    });
    const res = await fetch(`${agent.url}/invoke`, {
      method: 'POST',
      headers: { accept: 'text/event-stream' },
      body: '{"input":"hi"}',
    });
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const text = await res.text();
    const tokens = text.split('\n').filter((l) => l === 'event: token').length;
    assert.ok(tokens > 3, `only ${tokens} token events`);
    assert.ok(text.trimEnd().split('\n\n').pop()!.startsWith('event: done'));
    const outcome = parseOutcome('text/event-stream', text);
    assert.equal(typeof outcome?.taskSuccess, 'boolean');
    assert.equal(typeof outcome?.qualityScore, 'number');
  });

  it('answers 5xx on every request at error rate 1, and closes with requests pending', async () => {
    agent = await startSimulatedAgent({
      ...healthyProfile('v3'),
      errorRate: 1,
      latencyMs: { median: 1, p99: 2 },
    });
    const res = await fetch(`${agent.url}/invoke`, { method: 'POST', body: '{}' });
    assert.equal(res.status, 503);
    const slow = await startSimulatedAgent({
      ...healthyProfile('v4'),
      latencyMs: { median: 60_000, p99: 60_000 },
    });
    const pending = fetch(`${slow.url}/invoke`, { method: 'POST', body: '{}' }).catch((e: Error) => e);
    await new Promise<void>((resolve) => {
      const poll = () => (slow.served().requests > 0 ? resolve() : setTimeout(poll, 5));
      poll();
    });
    const t0 = Date.now();
    await slow.close();
    assert.ok((await pending) instanceof Error, 'the pending request is cut off');
    assert.ok(Date.now() - t0 < 2000);
  });
});
