// Judge simulation benchmark: false rollbacks and time to rollback for three judges, on seeded
// simulated traffic with the default plan (5%/30m, 25%/60m, 50%/120m, checks every minute).
//   npm run bench:judge [-- --runs 300 --aa-runs 600 --seed 42]
// Last line: judge aa_false_rollback=<f> sprt_ratio_err_1_2=<n> sprt_ratio_err_1_5=<n> stage1_catch_100rps=<k>/<n>
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import os from 'node:os';
import path from 'node:path';
import { alphaSplit } from '../src/analysis/statistical';
import { sprtExpectedSamples, waldBernoulliAsn } from '../src/analysis/sequential';
import type { MetricName } from '../src/analysis/types';
import {
  DEFAULT_PLAN,
  HEALTHY,
  JUDGE_LABELS,
  modelFacts,
  runScenario,
  SCENARIOS,
  THRESHOLDS_FAILURE_LIMIT,
  type JudgeKind,
  type Summary,
} from './judge-sim';

const RPS = [1, 10, 100];
const JUDGES: JudgeKind[] = ['original', 'flagger', 'ours', 'ours_fl3'];
/** The reference SPRT's error rates: the plan's alpha per rollout, and a 5% miss rate. */
const REF_BETA = 0.05;
/** A regression counts as caught in stage 1 when at least this share of rollouts is. */
const STAGE1_SHARE = 0.95;

interface Job {
  judge: JudgeKind;
  scenario: number;
  rps: number;
  runs: number;
  seed: number;
}
interface JobResult extends Job {
  summary: Summary;
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`--${name} must be a positive number, got "${process.argv[i + 1]}"`);
    process.exit(2);
  }
  return v;
}

/** The metric each regression scenario degrades. */
const SCENARIO_METRIC: Record<string, MetricName> = {
  err_1_2: 'error_rate',
  err_1_5: 'error_rate',
  task_95_85: 'task_success_rate',
  p99_150: 'p99_latency_ms',
  quality_90: 'quality_score',
};

/**
 * The alpha our judge's comparison test for the scenario's metric gets in one stage of the default
 * plan (alpha split over metrics and stages). Wald's SPRT at this alpha isolates how efficient the
 * test itself is from what the split costs.
 */
function ownAlpha(scenarioId: string): number {
  return alphaSplit(DEFAULT_PLAN.analysis, SCENARIO_METRIC[scenarioId]).comparison;
}

/**
 * Wald's expected sample size for the scenario's known rates: the theoretical best. By default at
 * the plan's alpha per rollout, a single test given all of it.
 */
export function waldReference(scenarioId: string, alpha = DEFAULT_PLAN.analysis.alpha): number | null {
  const sc = SCENARIOS.find((s) => s.id === scenarioId)!;
  switch (scenarioId) {
    case 'err_1_2':
    case 'err_1_5':
      return waldBernoulliAsn(HEALTHY.errorRate, sc.canary.errorRate, alpha, REF_BETA);
    case 'task_95_85':
      return waldBernoulliAsn(1 - HEALTHY.taskSuccessRate, 1 - sc.canary.taskSuccessRate, alpha, REF_BETA);
    case 'p99_150': {
      // Requests above the stable's p99: 1% for stable, this for the canary.
      const s = modelFacts(HEALTHY);
      const c = modelFacts(sc.canary);
      return waldBernoulliAsn(0.01, c.latencyAbove(s.latencyP99), alpha, REF_BETA);
    }
    case 'quality_90': {
      const s = modelFacts(HEALTHY);
      const c = modelFacts(sc.canary);
      const d = s.qualityMean - c.qualityMean;
      const v = (s.qualitySd ** 2 + c.qualitySd ** 2) / 2;
      return sprtExpectedSamples((d * d) / (2 * v), alpha, REF_BETA);
    }
    default:
      return null;
  }
}

/** Clopper-Pearson upper 95% bound of a binomial proportion (bisection on the exact CDF). */
function upper95(k: number, n: number): number {
  const cdf = (p: number): number => {
    let sum = 0;
    let logC = 0;
    for (let i = 0; i <= k; i++) {
      if (i > 0) logC += Math.log((n - i + 1) / i);
      sum += Math.exp(logC + i * Math.log(p) + (n - i) * Math.log1p(-p));
    }
    return sum;
  };
  let lo = k / n;
  let hi = 1;
  for (let it = 0; it < 60; it++) {
    const mid = (lo + hi) / 2;
    if (cdf(mid) > 0.05) lo = mid;
    else hi = mid;
  }
  return hi;
}

async function runParallel(jobs: Job[]): Promise<JobResult[]> {
  const threads = Math.max(1, Math.min(os.availableParallelism?.() ?? os.cpus().length, 4));
  // A shared queue, longest jobs first, so the threads finish together.
  const cost = (j: Job) => j.runs * (j.scenario === 0 ? 20 : 1) * (10 + j.rps);
  const queue = [...jobs].sort((a, b) => cost(b) - cost(a));
  const results: JobResult[] = [];
  const register = path.join(__dirname, '..', 'bin', 'register.js');
  await Promise.all(
    Array.from(
      { length: threads },
      () =>
        new Promise<void>((resolve, reject) => {
          const w = new Worker(__filename, { execArgv: ['-r', register] });
          const feed = () => {
            const job = queue.shift();
            if (job) w.postMessage(job);
            else void w.terminate().then(() => resolve());
          };
          w.on('message', (r: JobResult) => {
            results.push(r);
            feed();
          });
          w.once('error', reject);
          feed();
        }),
    ),
  );
  return results;
}

function fmtN(x: number | null, digits = 0): string {
  return x === null ? '-' : x.toFixed(digits);
}

async function main(): Promise<void> {
  const runs = Math.round(arg('runs', 200));
  const aaRuns = Math.round(arg('aa-runs', 400));
  const seed = Math.round(arg('seed', 42));
  const started = Date.now();
  const jobs: Job[] = [];
  for (const rps of RPS) {
    for (let s = 0; s < SCENARIOS.length; s++) {
      for (const judge of JUDGES) jobs.push({ judge, scenario: s, rps, runs: s === 0 ? aaRuns : runs, seed });
    }
  }
  const results = await runParallel(jobs);
  const get = (judge: JudgeKind, s: number, rps: number) =>
    results.find((r) => r.judge === judge && r.scenario === s && r.rps === rps)!.summary;

  console.log(
    `judge simulation: default plan (5%/30m, 25%/60m, 50%/120m; check 1m; failureLimit ${DEFAULT_PLAN.analysis.failureLimit} (statistical), ${THRESHOLDS_FAILURE_LIMIT} (thresholds); ` +
      `alpha ${DEFAULT_PLAN.analysis.alpha}), seed ${seed}, ${aaRuns} A/A and ${runs} regression rollouts per cell`,
  );
  console.log('requests = canary requests from rollout start to rollback; min = minutes to rollback');
  console.log(
    `SPRT x = median requests / Wald's SPRT expected sample size (alpha ${DEFAULT_PLAN.analysis.alpha}, beta ${REF_BETA}, known rates)`,
  );
  console.log(
    `x own a = the same at the alpha our judge gives that metric's test in one stage (the split over metrics and stages): ` +
      `how close the test itself comes to Wald, apart from what the split costs`,
  );
  for (const rps of RPS) {
    console.log(`\n== ${rps} requests/s ==`);
    const aaHead = `${'judge'.padEnd(46)} ${'false rollback'.padStart(16)} ${'95% upper'.padStart(10)} ${'promoted'.padStart(9)} ${'paused'.padStart(7)} ${'median rollout min'.padStart(19)}`;
    console.log(`A/A (no difference)\n  ${aaHead}`);
    for (const j of JUDGES) {
      const a = get(j, 0, rps);
      console.log(
        `  ${JUDGE_LABELS[j].padEnd(46)} ${`${a.rolledBack}/${a.runs} ${((100 * a.rolledBack) / a.runs).toFixed(1)}%`.padStart(16)} ` +
          `${(100 * upper95(a.rolledBack, a.runs)).toFixed(1).padStart(9)}% ${`${((100 * a.promoted) / a.runs).toFixed(0)}%`.padStart(9)} ` +
          `${`${((100 * a.paused) / a.runs).toFixed(0)}%`.padStart(7)} ${String(a.medianRolloutMinutes).padStart(19)}`,
      );
    }
    for (let s = 1; s < SCENARIOS.length; s++) {
      const id = SCENARIOS[s].id;
      const ref = waldReference(id);
      const own = waldReference(id, ownAlpha(id));
      console.log(
        `${SCENARIOS[s].label} (Wald SPRT: ${fmtN(ref)} requests; ${fmtN(own)} at alpha ${ownAlpha(id).toPrecision(2)})`,
      );
      console.log(
        `  ${'judge'.padEnd(46)} ${'caught'.padStart(7)} ${'stage 1'.padStart(8)} ${'requests p50/p90'.padStart(17)} ${'min p50/p90'.padStart(12)} ${'SPRT x'.padStart(7)} ${'x own a'.padStart(8)}`,
      );
      for (const j of JUDGES) {
        const r = get(j, s, rps);
        const ratio = (x: number | null) =>
          r.medianRequests !== null && x ? (r.medianRequests / x).toFixed(2) : '-';
        const ours = j === 'ours' || j === 'ours_fl3';
        console.log(
          `  ${JUDGE_LABELS[j].padEnd(46)} ${`${((100 * r.rolledBack) / r.runs).toFixed(0)}%`.padStart(7)} ` +
            `${`${((100 * r.stage1RolledBack) / r.runs).toFixed(0)}%`.padStart(8)} ` +
            `${`${fmtN(r.medianRequests)}/${fmtN(r.p90Requests)}`.padStart(17)} ` +
            `${`${fmtN(r.medianMinutes)}/${fmtN(r.p90Minutes)}`.padStart(12)} ${ratio(ref).padStart(7)} ` +
            `${(ours ? ratio(own) : '').padStart(8)}`,
        );
      }
    }
  }

  const aa = RPS.map((rps) => get('ours', 0, rps));
  const aaFalse = aa.reduce((n, s) => n + s.rolledBack, 0) / aa.reduce((n, s) => n + s.runs, 0);
  const ratio = (id: string) => {
    const s = SCENARIOS.findIndex((x) => x.id === id);
    const med = get('ours', s, 100).medianRequests;
    return med === null ? 'none' : (med / waldReference(id)!).toFixed(2);
  };
  const regressions = SCENARIOS.slice(1).map((_, i) => get('ours', i + 1, 100));
  const caught = regressions.filter((r) => r.stage1RolledBack >= STAGE1_SHARE * r.runs).length;
  console.log(`\nelapsed ${((Date.now() - started) / 1000).toFixed(1)}s`);
  console.log(
    `judge aa_false_rollback=${aaFalse.toFixed(4)} sprt_ratio_err_1_2=${ratio('err_1_2')} ` +
      `sprt_ratio_err_1_5=${ratio('err_1_5')} stage1_catch_100rps=${caught}/${regressions.length}`,
  );
}

if (isMainThread) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  parentPort!.on('message', (j: Job) => {
    parentPort!.postMessage({ ...j, summary: runScenario(j.judge, j.scenario, j.rps, j.runs, j.seed) });
  });
}
