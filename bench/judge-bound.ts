// What any test could do with the default plan's data: a lower bound on the units that a test of
// "no worse than minEffect" needs to promote >= 90% of healthy canaries while promoting <= 5% of
// canaries worse by minEffect, against the units the plan gets in its 6 h deadline (issue 29).
//
//   npm run bench:judge-bound [-- --rps 1 --runs 400 --seed 42 --models heavy,latency]
//
// Why it is a bound: a fixed-sample z-test with the variance known is the most powerful test of a
// normal mean, and a sequential test can only do worse than the fixed test run on all its data at
// the end (it cannot see more than that data). So a metric whose fixed test falls short of
// (z_0.95 + z_0.90) standard errors at minEffect cannot be promoted 90% of the time by any judge
// holding the 5% promise at minEffect. The variance is the traffic's own, measured by simulation:
// A/A rollouts of bench/traffic.ts models, counted as the gateway counts them (bench/traffic-sim.ts),
// the stages held at the plan's weights with the shortest stages the plan allows (5% for 30 min,
// 25% for 60 min, 50% for the rest of the 6 h: the most data a difference can get at 50%), each
// stage's difference read at its end, and the stages combined with inverse-variance weights (the
// best linear combination). Both estimators the judge has are tried (the ratio of sums, and the
// mean of conversations' own means, see docs/judge.md "The unit") and the better one kept.
// A bound for tests built on these statistics, not on every statistic: on heavy-tailed data a test
// that measures the dispersion (the judge's per-request one) beats its own statistic's z-bound, and
// a statistic made for failing users might move the bound (docs/judge.md says by how much it is).
//
// Last line per row: bound <model> <rps>rps limiting=<metric>/<estimator> z=<f> ratio=<f>
//   needed=<units> available=<units> unit=<requests|conversations|outcomes> fixed=<ok|short>
//   lr_pass=<ok|short> promoted_fixed=<f> promoted_lr=<f> promoted_threshold=<f>; ratio = units
//   needed / units available for the fixed test; "lr_pass" is the judge's own pass rule (likelihood
//   ratio 1/20 at minEffect) applied once at the deadline, which needs z >= 4.04 instead of 2.93
//   (1.91 times the units); promoted_* every metric's best test at once (metrics independent): the
//   fixed z-test, the pass rule at the deadline, a threshold on each statistic's own distribution.
import { survivalAt } from '../src/analysis/values';
import type { Histogram, MetricsWindow, VersionMetrics } from '../src/metrics/types';
import { DEFAULT_PLAN, normalCdf, Rng, seedOf } from './judge-sim';
import { builtinModels } from './traffic';
import { ConversationTraffic, hashId } from './traffic-sim';

const MIN = 60_000;
/** The stages at their shortest (the default plan), the last one until the progress deadline. */
const SCHEDULE = [
  { percent: 5, ms: 30 * MIN },
  { percent: 25, ms: 60 * MIN },
  { percent: 50, ms: 6 * 60 * MIN - 90 * MIN },
];
/** One-sided normal quantiles: promote <= 5% at minEffect, >= 90% when healthy. */
const Z_ALPHA = 1.6448536269514722;
const Z_POWER = 1.2815515655446004;
const Z_FIXED = Z_ALPHA + Z_POWER;
/** The share of canaries worse by minEffect that may be promoted (PASS_BETA). */
const Z_ALPHA_SHARE = 0.05;
/**
 * The judge's pass rule (ln LR at minEffect <= ln 1/20) on a normal estimate with standard error
 * se at the deadline: pass when d <= delta/2 - 3 se^2/delta; with d ~ N(0, se^2), P(pass) >= 0.9
 * needs s = delta/se with s/2 - ln(20)/s >= z_0.90.
 */
const Z_LR = Z_POWER + Math.sqrt(Z_POWER ** 2 + 2 * Math.log(20));

type Unit = 'requests' | 'conversations' | 'outcomes';

/** One estimator of one metric: the stage's "canary worse by" estimate, its shift at minEffect, its units. */
interface Estimator {
  metric: string;
  name: string;
  unit: Unit;
  /** Canary minus stable in the direction "worse" (NaN: no data). */
  worse(w: MetricsWindow): number;
  /** How much the estimate moves when the canary is worse by minEffect (per stage window). */
  shift(w: MetricsWindow): number;
  units(c: VersionMetrics): number;
}

const ratio = (a: number | undefined, b: number | undefined) =>
  a !== undefined && b !== undefined && b > 0 ? a / b : NaN;

/** Latency thresholds of the traffic (the stable's requests and conversations' slowest, pooled). */
interface Tails {
  requestP99: number;
  requestP90: number;
  slowestP90: number;
}

function estimators(tails: Tails): Estimator[] {
  const me = DEFAULT_PLAN.analysis.minEffect;
  const conv = (m: VersionMetrics) => m.conversations!;
  const slow = 1 + me.p99_latency_ms;
  const above = (h: Histogram, n: number, x: number) => survivalAt(h, x) * n;
  /** Conversations whose slowest request is above x (the signed histogram sums to the conversations). */
  const convAbove = (m: VersionMetrics, x: number) => {
    const h = conv(m).slowest.filter(([, c]) => c > 0);
    const n = h.reduce((s, [, c]) => s + c, 0);
    return above(h, n, x);
  };
  /** A difference of two versions' shares (num / den), signed so that worse is positive. */
  const share = (
    metric: 'error_rate' | 'task_success_rate' | 'quality_score',
    name: string,
    unit: Unit,
    num: (m: VersionMetrics) => number | undefined,
    den: (m: VersionMetrics) => number,
    higherIsWorse: boolean,
  ): Estimator => ({
    metric,
    name,
    unit,
    worse: (w) =>
      (higherIsWorse ? 1 : -1) * (ratio(num(w.canary), den(w.canary)) - ratio(num(w.stable), den(w.stable))),
    shift: () => me[metric],
    units: den,
  });
  return [
    share(
      'error_rate',
      'per request',
      'requests',
      (m) => m.errors,
      (m) => m.requests,
      true,
    ),
    share(
      'error_rate',
      "conversations' means",
      'conversations',
      (m) => conv(m).errorRateSum,
      (m) => conv(m).count,
      true,
    ),
    share(
      'task_success_rate',
      'per outcome',
      'outcomes',
      (m) => m.taskSuccess.successes,
      (m) => m.taskSuccess.total,
      false,
    ),
    share(
      'task_success_rate',
      "conversations' means",
      'conversations',
      (m) => conv(m).failureRateSum,
      (m) => conv(m).tasked,
      true,
    ),
    share(
      'quality_score',
      'per score',
      'outcomes',
      (m) => m.quality!.sum,
      (m) => m.quality!.count,
      false,
    ),
    share(
      'quality_score',
      "conversations' means",
      'conversations',
      (m) => conv(m).qualityMeanSum,
      (m) => conv(m).scored ?? 0,
      false,
    ),
    // p99 under "20% slower throughout" (the judge's alternative): the share above a threshold moves
    // to the share above threshold / 1.2. Tried at the traffic's p99 and p90, per request and per
    // conversation (its slowest request: the judge's unit, which looks at most at the slowest 10%).
    ...[
      ['p99', tails.requestP99],
      ['p90', tails.requestP90],
    ].map(([q, t]): Estimator => ({
      metric: 'p99_latency_ms',
      name: `requests above ${q}`,
      unit: 'requests',
      worse: (w) =>
        ratio(above(w.canary.latencyMs.histogram, w.canary.requests, t as number), w.canary.requests) -
        ratio(above(w.stable.latencyMs.histogram, w.stable.requests, t as number), w.stable.requests),
      shift: (w) =>
        ratio(
          above(w.canary.latencyMs.histogram, w.canary.requests, (t as number) / slow) -
            above(w.canary.latencyMs.histogram, w.canary.requests, t as number),
          w.canary.requests,
        ),
      units: (c) => c.requests,
    })),
    ...[
      ["requests' p99", tails.requestP99],
      ["slowest's p90", tails.slowestP90],
    ].map(([q, t]): Estimator => ({
      metric: 'p99_latency_ms',
      name: `slowest above ${q}`,
      unit: 'conversations',
      worse: (w) =>
        ratio(convAbove(w.canary, t as number), conv(w.canary).count) -
        ratio(convAbove(w.stable, t as number), conv(w.stable).count),
      shift: (w) =>
        ratio(
          convAbove(w.canary, (t as number) / slow) - convAbove(w.canary, t as number),
          conv(w.canary).count,
        ),
      units: (c) => conv(c).count,
    })),
  ];
}

/** The windows of each stage at its end, for one A/A rollout at the plan's shortest stages. */
function rollout(
  model: ReturnType<typeof builtinModels>[number],
  rps: number,
  seed: number,
): MetricsWindow[] {
  const traffic = new ConversationTraffic(model, rps, new Rng(seed));
  const out: MetricsWindow[] = [];
  let now = 0;
  for (const [k, st] of SCHEDULE.entries()) {
    if (k > 0) traffic.newStage(now);
    // Served a minute at a time, as the policy's checks would (the source fills whole minutes).
    for (let t = 0; t < st.ms; t += MIN) {
      traffic.serve(MIN, st.percent, now);
      now += MIN;
    }
    out.push(traffic.window(now));
  }
  return out;
}

/** Quantile q of histograms added up (signed counts allowed: they sum to the right totals). */
function pooledQuantile(hs: Histogram[], q: number): number {
  const pooled = new Map<number, number>();
  for (const h of hs) for (const [v, c] of h) pooled.set(v, (pooled.get(v) ?? 0) + c);
  const hist = [...pooled].sort((a, b) => a[0] - b[0]);
  const total = hist.reduce((s, [, c]) => s + c, 0);
  let seen = 0;
  return hist.find(([, c]) => (seen += c) >= q * total)![0];
}

function meanVar(xs: number[]): { mean: number; variance: number; n: number } {
  const v = xs.filter((x) => Number.isFinite(x));
  const mean = v.reduce((s, x) => s + x, 0) / v.length;
  const variance = v.reduce((s, x) => s + (x - mean) ** 2, 0) / (v.length - 1);
  return { mean, variance, n: v.length };
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}

function main(): void {
  const rps = Number(arg('rps') ?? 1);
  const runs = Math.round(Number(arg('runs') ?? 400));
  const seed = Math.round(Number(arg('seed') ?? 42));
  if (!(rps > 0) || !(runs >= 20) || !Number.isFinite(seed)) {
    console.error('--rps must be > 0, --runs at least 20, --seed a number');
    process.exit(2);
  }
  const only = arg('models')?.split(',');
  const models = builtinModels().filter((m) => m.aa && (!only || only.includes(m.id)));
  const started = Date.now();
  console.log(
    `fixed-test bound at ${rps} req/s: A/A rollouts ${runs} per row, stages ${SCHEDULE.map((s) => `${s.percent}%/${s.ms / MIN}m`).join(', ')}, ` +
      `seed ${seed}; z needed: fixed test ${Z_FIXED.toFixed(2)}, the judge's pass rule at the deadline ${Z_LR.toFixed(2)}`,
  );
  for (const model of models) {
    const windows = Array.from({ length: runs }, (_, r) =>
      rollout(model, rps, seedOf(seed + 9_000_011, hashId(model.id), Math.round(rps * 10), r)),
    );
    // The traffic's latency quantiles: pooled over every rollout's stable side in the last stage.
    const last = windows.map((w) => w[SCHEDULE.length - 1].stable);
    const tails: Tails = {
      requestP99: pooledQuantile(
        last.map((m) => m.latencyMs.histogram),
        0.99,
      ),
      requestP90: pooledQuantile(
        last.map((m) => m.latencyMs.histogram),
        0.9,
      ),
      slowestP90: pooledQuantile(
        last.map((m) => m.conversations!.slowest),
        0.9,
      ),
    };

    const rows = estimators(tails).map((e) => {
      let info = 0;
      let weighted = 0;
      let units = 0;
      const weights: number[] = [];
      for (let k = 0; k < SCHEDULE.length; k++) {
        const d = meanVar(windows.map((w) => e.worse(w[k])));
        const shift = meanVar(windows.map((w) => e.shift(w[k]))).mean;
        // Inverse-variance weights: the best linear combination of the stages' estimates.
        weights.push(1 / d.variance);
        info += 1 / d.variance;
        weighted += shift / d.variance;
        units += meanVar(windows.map((w) => e.units(w[k].canary))).mean;
      }
      // The combined estimate: shift weighted / info, standard error 1 / sqrt(info).
      const z = weighted / Math.sqrt(info);
      const needRatio = (Z_FIXED / z) ** 2;
      // Without the normal approximation: the combined estimate's own A/A distribution, and a
      // canary worse by minEffect as that distribution moved by the shift. The best threshold on
      // it that promotes at most 5% of those promotes this share of healthy canaries.
      const combined = windows
        .map((w) => weights.reduce((sum, wk, k) => sum + wk * e.worse(w[k]), 0) / info)
        .filter((x) => Number.isFinite(x))
        .sort((a, b) => a - b);
      const q05 = combined[Math.floor(Z_ALPHA_SHARE * combined.length)];
      const threshold = q05 + weighted / info;
      const empirical = combined.filter((x) => x <= threshold).length / combined.length;
      return { e, z, needRatio, units, empirical };
    });
    for (const r of rows) {
      console.log(
        `  ${model.id.padEnd(10)} ${r.e.metric.padEnd(18)} ${r.e.name.padEnd(34)} z=${r.z.toFixed(2).padStart(6)} ` +
          `needs ${r.needRatio.toFixed(2).padStart(6)}x the canary ${r.e.unit} (has ${r.units.toFixed(0)}); ` +
          `best threshold on its own distribution promotes ${(100 * r.empirical).toFixed(1)}%`,
      );
    }
    // Per metric the better estimator; the row's limit is its hardest metric.
    const best = new Map<string, (typeof rows)[number]>();
    for (const r of rows) {
      const b = best.get(r.e.metric);
      if (!b || r.z > b.z) best.set(r.e.metric, r);
    }
    const limit = [...best.values()].sort((a, b) => a.z - b.z)[0];
    // Healthy canaries promoted, every metric at once if the metrics were independent: by the fixed
    // tests (each at 5% for minEffect), and by the judge's pass rule applied once at the deadline.
    const pFixed = [...best.values()].reduce((p, r) => p * normalCdf(r.z - Z_ALPHA), 1);
    const pLr = [...best.values()].reduce((p, r) => p * normalCdf(r.z / 2 - Math.log(20) / r.z), 1);
    // The same without the normal approximation, per metric the better estimator by that measure.
    const bestEmpirical = new Map<string, number>();
    for (const r of rows)
      bestEmpirical.set(r.e.metric, Math.max(bestEmpirical.get(r.e.metric) ?? 0, r.empirical));
    const pEmpirical = [...bestEmpirical.values()].reduce((p, x) => p * x, 1);
    console.log(
      `bound ${model.id} ${rps}rps limiting=${limit.e.metric}/${limit.e.name.replace(/ /g, '_')} z=${limit.z.toFixed(2)} ` +
        `ratio=${limit.needRatio.toFixed(2)} needed=${(limit.needRatio * limit.units).toFixed(0)} available=${limit.units.toFixed(0)} ` +
        `unit=canary_${limit.e.unit} fixed=${limit.z >= Z_FIXED ? 'ok' : 'short'} lr_pass=${limit.z >= Z_LR ? 'ok' : 'short'} ` +
        `promoted_fixed=${pFixed.toFixed(3)} promoted_lr=${pLr.toFixed(3)} promoted_threshold=${pEmpirical.toFixed(3)}`,
    );
  }
  console.log(`elapsed ${((Date.now() - started) / 1000).toFixed(1)}s`);
}

main();
