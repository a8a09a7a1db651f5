// The metrics read from the answers, judged like the built-ins of their family, on windows built by
// the gateway's own store: no data is never healthy, a regression fails on the metric that moved, the
// same traffic passes, and a restart's journal gives the judge the same numbers.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { judge } from '../src/analysis';
import { forecast } from '../src/analysis/forecast';
import { VersionSeries, metricsFromRecords } from '../src/gateway/metrics-store';
import type { Usage } from '../src/gateway/usage';
import { parseQueryConfig } from '../src/metrics/prometheus-query';
import type { MetricsWindow } from '../src/metrics/types';
import { resolvePlan } from '../src/plan';

const T0 = 1_700_000_000_000;

/** A seeded generator, so the windows are the same on every run. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Shape {
  output: number;
  ttftMs: number;
  toolErrors?: number;
  truncated?: number;
  usage?: boolean;
}

function series(version: string, n: number, shape: Shape, seed: number): VersionSeries {
  const s = new VersionSeries('bot', version, 3600);
  const r = rng(seed);
  for (let i = 0; i < n; i++) {
    const u: Usage = {
      toolCalls: 1,
      toolErrors: r() < (shape.toolErrors ?? 0.01) ? 1 : 0,
      finish: r() < (shape.truncated ?? 0.01) ? 'length' : 'stop',
      streamed: true,
      firstTokenMs: shape.ttftMs * (0.8 + 0.4 * r()),
    };
    if (shape.usage !== false) {
      u.inputTokens = 500;
      u.outputTokens = Math.round(shape.output * (0.5 + r()));
    }
    const cost = u.outputTokens !== undefined ? (u.inputTokens! * 3 + u.outputTokens * 15) / 1e6 : undefined;
    const now = T0 + i * 10;
    s.recordRequest(100, false, now);
    s.recordAnswer({ usage: u, ...(cost !== undefined ? { cost } : {}), durationMs: 100 }, now);
  }
  return s;
}

function window(stable: Shape, canary: Shape, n = 600): MetricsWindow {
  const q = (s: VersionSeries) => s.query(T0, T0 + n * 10 + 1000, T0 + n * 10 + 1000);
  return {
    agent: 'bot',
    since: T0,
    until: T0 + n * 10 + 1000,
    stable: q(series('v1', n, stable, 1)),
    canary: q(series('v2', n, canary, 2)),
  };
}

const analysis = (metrics: string[]) =>
  resolvePlan({ agent: 'bot', stable: 'v1', canary: 'v2', analysis: { metrics, minSamples: 50 } }).analysis;

const base: Shape = { output: 300, ttftMs: 400 };

describe('metrics read from the answers, judged', () => {
  it('fails twice the output tokens on cost and tokens, passes the same traffic', () => {
    const m = ['cost_per_request', 'output_tokens', 'input_tokens'];
    const bad = judge(window(base, { ...base, output: 600 }), analysis(m));
    assert.equal(bad.verdict, 'fail', bad.reason);
    const byName = new Map(bad.metrics.map((r) => [r.metric, r]));
    assert.equal(byName.get('cost_per_request')!.status, 'fail');
    assert.equal(byName.get('output_tokens')!.status, 'fail');
    assert.notEqual(byName.get('input_tokens')!.status, 'fail', 'input did not change');
    assert.match(
      byName.get('cost_per_request')!.reason,
      /cost per request \$0\.\d+ against \$0\.\d+ on stable/,
    );
    assert.equal(judge(window(base, base), analysis(m)).verdict, 'pass');
  });

  it('fails a slower first token on ttft_p99_ms alone', () => {
    const v = judge(
      window(base, { ...base, ttftMs: 800 }, 3000),
      analysis(['ttft_p99_ms', 'cost_per_request']),
    );
    const byName = new Map(v.metrics.map((r) => [r.metric, r]));
    assert.equal(byName.get('ttft_p99_ms')!.status, 'fail', byName.get('ttft_p99_ms')!.reason);
    assert.notEqual(byName.get('cost_per_request')!.status, 'fail');
  });

  it('fails more tool errors and more answers cut off as proportions', () => {
    const v = judge(
      window(base, { ...base, toolErrors: 0.1, truncated: 0.12 }, 1000),
      analysis(['tool_error_rate', 'truncation_rate']),
    );
    assert.deepEqual(
      v.metrics.map((r) => [r.metric, r.status]),
      [
        ['tool_error_rate', 'fail'],
        ['truncation_rate', 'fail'],
      ],
    );
  });

  it('answers without usage are no data, never zero tokens', () => {
    const v = judge(window(base, { ...base, usage: false }), analysis(['output_tokens', 'cost_per_request']));
    assert.equal(v.verdict, 'inconclusive');
    for (const r of v.metrics) {
      assert.equal(r.status, 'nodata');
      assert.equal(r.canary, null);
      assert.equal(r.canarySamples, 0);
    }
  });

  it("the journal's seconds give the judge the same numbers as the live store", () => {
    const s = series('v1', 300, base, 3);
    const live = s.query(T0, T0 + 5000, T0 + 5000);
    const replayed = metricsFromRecords(
      'v1',
      s.secondsBetween(Math.floor(T0 / 1000) - 1, Math.floor(T0 / 1000) + 5),
    );
    assert.deepEqual(replayed.signals, live.signals);
    assert.equal(live.signals!.outputTokens.count, 300);
  });

  it('forecasts each of them for validate --rps', () => {
    const plan = resolvePlan({
      agent: 'bot',
      stable: 'v1',
      canary: 'v2',
      analysis: { metrics: ['cost_per_request', 'ttft_p99_ms', 'tool_error_rate', 'truncation_rate'] },
    });
    const f = forecast(plan, 10);
    for (const st of f.stages) {
      assert.deepEqual(
        st.metrics.map((m) => m.metric),
        ['cost_per_request', 'ttft_p99_ms', 'tool_error_rate', 'truncation_rate'],
      );
      for (const m of st.metrics) assert.ok(Number.isFinite(m.healthyMs), `${m.metric} ${m.healthyMs}`);
    }
    // The first stage has no evidence carried in: each metric needs its own time, the p99 the most.
    const first = new Map(f.stages[0].metrics.map((m) => [m.metric, m.healthyMs]));
    for (const ms of first.values()) assert.ok(ms > 0);
    assert.ok(first.get('ttft_p99_ms')! > first.get('cost_per_request')!);
    assert.match(f.stages[0].metrics[0].rulesOutText, /% cost per request/);
  });

  it('ships GenAI templates that the prometheus-query source accepts', () => {
    const file = join(__dirname, '..', 'examples', 'prometheus-genai.yaml');
    const cfg = parseQueryConfig(parseYaml(readFileSync(file, 'utf8')));
    assert.deepEqual(Object.keys(cfg.metrics).sort(), [
      'error_rate',
      'input_tokens',
      'output_tokens',
      'p99_latency_ms',
      'tool_error_rate',
      'ttft_p99_ms',
    ]);
    assert.match(
      cfg.metrics.ttft_p99_ms!.buckets,
      /gen_ai_client_operation_time_to_first_chunk_seconds_bucket/,
    );
  });
});
