// Judge simulation benchmark: the shipped policy (workflows/policy `step`) and judge on seeded
// simulated traffic with the default plan (5%/30m, 25%/60m, 50%/120m, checks every minute).
//
// Default: conversations (bench/traffic.ts, bench/traffic-sim.ts): heavy-tailed lengths, failing
// users, context-dependent latency, correlated scores, incidents on both versions, biased and late
// feedback, diurnal load, regressions (issue 29), routed and counted as the gateway does.
//   npm run bench:judge [-- --runs 20 --rps 1,10 --seed 42 --models heavy,latency --traffic ./mine.ts --v3|--v4|--v5]
//   (judge v6 unless --v3/--v4/--v5; on the shared 2 cores, 2026-12-06: --rps 10 --runs 40 59 s,
//   --rps 100 --runs 10 --runs-100 10 88 s, half their time before the columns of traffic-sim.ts)
//   Why a rollout ended: JUDGE_SIM_REASONS=detail; check by check: bench/judge-trace.ts
// Last line: judge conversations aa_false_rollback_max=<f> aa_upper95_max=<f> promoted_min_<rps>rps=<f>
//   caught_err_1_2_<rps>rps=<f> promoted_err_1_2_<rps>rps=<f> promoted_quality_min_<rps>rps=<f>
//
// --requests: the independent-requests benchmark (0.1 to 100 requests/s, the old bursty sessions);
// --compare adds the baselines (thresholds at window end, Flagger-style counter, failureLimit 3).
//   npm run bench:judge -- --requests [--runs 50 --aa-runs 150 --seed 42 --compare]
// Last line, one line for scripts:
//   judge aa_false_rollback_max=<f> aa_correlated=<f> unattended_1rps=<f> unattended_10rps=<f>
//   unattended_100rps=<f> caught_err_1_2_1rps=<f> caught_err_1_2_10rps=<f>
//   caught_all_1rps=<caught>/<scenarios> stage1_catch_100rps=<caught>/<scenarios>
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import os from 'node:os';
import path from 'node:path';
import { sprtExpectedSamples, waldBernoulliAsn } from '../src/analysis/sequential';
import { builtinModels, type TrafficModel } from './traffic';
import { summarizeTraffic, trafficOutcomes } from './traffic-sim';
import {
  DEFAULT_PLAN,
  HEALTHY,
  type Outcome,
  JUDGE_LABELS,
  modelFacts,
  runScenario,
  SCENARIOS,
  type JudgeKind,
  type Summary,
} from './judge-sim';

const RPS = [0.1, 1, 10, 100];
/** Rates with targets (0.1 requests/s is reported, without one). */
const TARGET_RPS = [1, 10, 100];
const COMPARE = process.argv.includes('--compare');
const JUDGES: JudgeKind[] = COMPARE ? ['original', 'flagger', 'ours', 'ours_fl3'] : ['ours'];
/** A regression counts as caught at 1 request/s when at least this share is rolled back before 100%. */
const CAUGHT_1RPS = 0.9;
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
  sessions?: boolean;
  /** Conversation traffic: a model id (builtin) and the module it comes from (--traffic). */
  /** old: judge v3 (--v3); v4: judge v4 without v5's early passes on conversations' means (--v4). */
  traffic?: { id: string; module?: string; old?: boolean; v4?: boolean; v5?: boolean };
  /** A chunk of a conversation cell: its rollouts first to first + runs - 1 of cellRuns. */
  first?: number;
  cellRuns?: number;
}
interface JobResult extends Job {
  summary: Summary;
}
/** What a thread sends back: a summary, or a chunk's rollouts in order (conversation cells). */
type ThreadResult = Job & ({ summary: Summary } | { outcomes: Outcome[] });

/**
 * Rollouts per chunk of a conversation cell: cells cut this small keep both threads busy to the end
 * (a 400-rollout cell at 100 requests/s is minutes of one thread), and the seeds do not depend on
 * how a cell is cut, so the figures are the same.
 */
const CHUNK = 25;

/** A conversation cell cut into chunks (each rollout's seed is its number's: the same rollouts). */
function chunks(j: Job): Job[] {
  const out: Job[] = [];
  for (let first = 0; first < j.runs; first += CHUNK) {
    out.push({ ...j, first, runs: Math.min(CHUNK, j.runs - first), cellRuns: j.runs });
  }
  return out;
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

/** Clopper-Pearson upper bound of a binomial proportion (bisection on the exact CDF), one-sided 95% by default. */
function upper95(k: number, n: number, tail = 0.05): number {
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
    if (cdf(mid) > tail) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** Ends of the exact (Clopper-Pearson) two-sided 95% interval. */
function lower95(k: number, n: number): number {
  return k === 0 ? 0 : 1 - upper95(n - k, n, 0.025);
}
const upper95two = (k: number, n: number) => (k === n ? 1 : upper95(k, n, 0.025));

async function runParallel(jobs: Job[]): Promise<JobResult[]> {
  const threads = Math.max(1, Math.min(os.availableParallelism?.() ?? os.cpus().length, 4));
  // A shared queue, longest jobs first, so the threads finish together.
  const cost = (j: Job) => j.runs * (j.scenario === 0 ? 20 : 1) * (30 + j.rps);
  const queue = jobs.flatMap((j) => (j.traffic ? chunks(j) : [j])).sort((a, b) => cost(b) - cost(a));
  const results: JobResult[] = [];
  /** Chunks of conversation cells received so far, by cell. */
  const parts = new Map<string, (Job & { outcomes: Outcome[] })[]>();
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
          w.on('message', (t: ThreadResult) => {
            let r: JobResult;
            if ('outcomes' in t) {
              const key = `${t.traffic!.id} ${t.rps}`;
              const got = parts.get(key) ?? [];
              parts.set(key, [...got, t]);
              const outcomes = [...got, t].sort((a, b) => a.first! - b.first!).flatMap((p) => p.outcomes);
              if (outcomes.length < t.cellRuns!) return feed();
              r = {
                ...t,
                first: 0,
                runs: t.cellRuns!,
                summary: summarizeTraffic(t.traffic!.id, t.rps, outcomes),
              };
            } else r = t;
            results.push(r);
            if (r.traffic) {
              // Each cell as it ends (stderr), so a long run shows its figures as they come.
              const x = r.summary;
              const fr = x.rolledBack - x.undecided;
              console.error(
                `cell ${r.traffic.id} ${r.rps} req/s: runs=${x.runs} false_rb=${fr} rolled_back=${x.rolledBack} ` +
                  `promoted=${x.promoted} undecided=${x.undecided} median_min=${x.medianMinutes ?? '-'}`,
              );
            }
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

const pct = (k: number, n: number) => `${((100 * k) / n).toFixed(1)}%`;

/** The built-in conversation models, or a team's own (--traffic <module>, see bench/traffic.ts). */
function loadModels(module?: string): TrafficModel[] {
  if (!module) return builtinModels();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const m = require(path.resolve(module)) as { default?: TrafficModel; models?: TrafficModel[] };
  const list = m.models ?? (m.default ? [m.default] : []);
  if (list.length === 0) throw new Error(`--traffic ${module}: exports neither default nor models`);
  return list;
}

function textArg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}

/**
 * Conversation traffic (the default run): each model at each rate, A/A rows as false rollbacks with
 * their exact 95% interval, regressions as caught before 100% and promoted. One summary line.
 */
async function conversations(): Promise<void> {
  const runs = Math.round(arg('runs', 20));
  const seed = Math.round(arg('seed', 42));
  const module = textArg('traffic');
  const rates = (textArg('rps') ?? (module ? '1,10,100' : '1,10')).split(',').map(Number);
  const only = textArg('models')?.split(',');
  const models = loadModels(module).filter((m) => !only || only.includes(m.id));
  const old = process.argv.includes('--v3');
  const v4 = process.argv.includes('--v4');
  const v5 = process.argv.includes('--v5');
  const started = Date.now();
  const jobs: Job[] = [];
  for (const rps of rates) {
    for (const m of models) {
      // 100 requests/s costs ten times 10: fewer runs unless asked (--runs-100).
      const n = rps >= 100 ? Math.round(arg('runs-100', Math.max(5, runs / 4))) : runs;
      jobs.push({
        judge: 'ours',
        scenario: 0,
        rps,
        runs: n,
        seed,
        traffic: { id: m.id, module, old, v4, v5 },
      });
    }
  }
  const results = await runParallel(jobs);
  console.log(
    `judge on conversations: default plan, ${old ? 'judge v3 (per request, outcomes on arrival)' : v4 ? 'judge v4 (per conversation)' : v5 ? "judge v5 (per conversation; early stages may pass on conversations' means)" : "judge v6 (judge v5 with the stages' feedback reads and means summed)"}, seed ${seed}, ` +
      `${runs} rollouts per cell (${rates.includes(100) ? 'fewer at 100 req/s, ' : ''}--runs for more)`,
  );
  console.log(
    `${'traffic'.padEnd(66)} ${'req/s'.padStart(5)} ${'false rb [95%]'.padStart(20)} ${'caught'.padStart(7)} ${'promoted'.padStart(9)} ${'undecided'.padStart(10)} ${'min p50/p90'.padStart(12)}`,
  );
  let worstAa = 0;
  let worstUpper = 0;
  const promoted: Record<number, number[]> = {};
  const caught: Record<string, number> = {};
  /** Regressions of exactly minEffect: promoted at most PASS_BETA (5%) of the time is the promise. */
  const atMinEffect: Record<string, number> = {};
  for (const m of models) {
    for (const rps of rates) {
      const r = results.find((x) => x.traffic?.id === m.id && x.rps === rps)!.summary;
      const fr = r.rolledBack - r.undecided;
      const rb = m.aa
        ? `${fr}/${r.runs} ${pct(fr, r.runs)} [${(100 * lower95(fr, r.runs)).toFixed(1)}-${(100 * upper95two(fr, r.runs)).toFixed(1)}]`
        : '-';
      if (m.aa) {
        worstAa = Math.max(worstAa, fr / r.runs);
        worstUpper = Math.max(worstUpper, upper95two(fr, r.runs));
        (promoted[rps] ??= []).push(r.promoted / r.runs);
      } else {
        caught[`${m.id}_${rps}`] = r.rolledBack / r.runs;
        if (m.id === 'err_1_2' || m.id === 'quality_min') atMinEffect[`${m.id}_${rps}`] = r.promoted / r.runs;
      }
      console.log(
        `${m.label.slice(0, 66).padEnd(66)} ${String(rps).padStart(5)} ${rb.padStart(20)} ` +
          `${(m.aa ? '-' : pct(r.rolledBack, r.runs)).padStart(7)} ${pct(r.promoted, r.runs).padStart(9)} ` +
          `${pct(r.undecided, r.runs).padStart(10)} ${`${fmtN(r.medianMinutes)}/${fmtN(r.p90Minutes)}`.padStart(12)}`,
      );
    }
  }
  console.log(`elapsed ${((Date.now() - started) / 1000).toFixed(1)}s`);
  const healthy = rates
    .map((rps) => `promoted_min_${rps}rps=${Math.min(...(promoted[rps] ?? [NaN])).toFixed(4)}`)
    .join(' ');
  const err = rates
    .filter((rps) => caught[`err_1_2_${rps}`] !== undefined)
    .map((rps) => `caught_err_1_2_${rps}rps=${caught[`err_1_2_${rps}`].toFixed(4)}`)
    .join(' ');
  console.log(
    `judge conversations aa_false_rollback_max=${worstAa.toFixed(4)} aa_upper95_max=${worstUpper.toFixed(4)} ${healthy} ${err} ` +
      Object.entries(atMinEffect)
        .map(([k, v]) => `promoted_${k.replace(/_([0-9.]+)$/, '_$1rps')}=${v.toFixed(4)}`)
        .join(' '),
  );
}

async function main(): Promise<void> {
  if (!process.argv.includes('--requests')) return conversations();
  const runs = Math.round(arg('runs', 50));
  const aaRuns = Math.round(arg('aa-runs', 150));
  const seed = Math.round(arg('seed', 42));
  const started = Date.now();
  const jobs: Job[] = [];
  for (const rps of RPS) {
    for (let s = 0; s < SCENARIOS.length; s++) {
      for (const judge of JUDGES) {
        if (judge !== 'ours' && rps < 1) continue;
        jobs.push({ judge, scenario: s, rps, runs: s === 0 ? aaRuns : runs, seed });
      }
    }
    if (rps >= 1) jobs.push({ judge: 'ours', scenario: 0, rps, runs: aaRuns, seed, sessions: true });
  }
  const results = await runParallel(jobs);
  const get = (judge: JudgeKind, s: number, rps: number, sessions = false) =>
    results.find(
      (r) => r.judge === judge && r.scenario === s && r.rps === rps && (r.sessions ?? false) === sessions,
    )!.summary;

  console.log(
    `judge simulation: default plan (5%/30m, 25%/60m, 50%/120m; check 1m; progressDeadline ${DEFAULT_PLAN.progressDeadlineMs / 3_600_000}h; ` +
      `failureLimit ${DEFAULT_PLAN.analysis.failureLimit}; alpha ${DEFAULT_PLAN.analysis.alpha}; policy rules 3), seed ${seed}, ` +
      `${aaRuns} A/A and ${runs} regression rollouts per cell`,
  );
  console.log(
    'false rb = rolled back by a failed check; undecided = withdrawn because the deadline left no room to decide; ' +
      'caught = rolled back before 100% (either way); min = minutes from start to the end of the rollout',
  );
  const medians: string[] = [];
  for (const rps of RPS) {
    console.log(`\n== ${rps} requests/s ==`);
    const aaHead = `${'A/A (no difference)'.padEnd(46)} ${'false rb'.padStart(13)} ${'95% upper'.padStart(10)} ${'promoted'.padStart(9)} ${'paused'.padStart(7)} ${'undecided'.padStart(10)} ${'median min'.padStart(11)}`;
    console.log(aaHead);
    const aaRows: [string, Summary][] = JUDGES.filter((j) => j === 'ours' || rps >= 1).map((j) => [
      JUDGE_LABELS[j],
      get(j, 0, rps),
    ]);
    if (rps >= 1) aaRows.push(['ours, correlated sessions', get('ours', 0, rps, true)]);
    for (const [label, a] of aaRows) {
      const fr = a.rolledBack - a.undecided;
      console.log(
        `${label.padEnd(46)} ${`${fr}/${a.runs} ${pct(fr, a.runs)}`.padStart(13)} ` +
          `${(100 * upper95(fr, a.runs)).toFixed(1).padStart(9)}% ${pct(a.promoted, a.runs).padStart(9)} ` +
          `${pct(a.paused, a.runs).padStart(7)} ${pct(a.undecided, a.runs).padStart(10)} ${a.medianRolloutMinutes.toFixed(0).padStart(11)}`,
      );
    }
    medians.push(`${rps} req/s: healthy ${get('ours', 0, rps).medianRolloutMinutes.toFixed(0)} min`);
    console.log(
      `${'regression'.padEnd(26)} ${'judge'.padEnd(19)} ${'caught'.padStart(7)} ${'stage 1'.padStart(8)} ${'undecided'.padStart(10)} ${'min p50/p90'.padStart(12)} ${'checks p90/max'.padStart(15)} ${'requests p50'.padStart(13)} ${'SPRT x'.padStart(7)}`,
    );
    for (let s = 1; s < SCENARIOS.length; s++) {
      const ref = waldReference(SCENARIOS[s].id);
      for (const j of JUDGES) {
        if (j !== 'ours' && rps < 1) continue;
        const r = get(j, s, rps);
        const ratio = r.medianRequests !== null && ref ? (r.medianRequests / ref).toFixed(2) : '-';
        console.log(
          `${SCENARIOS[s].label.padEnd(26)} ${j.padEnd(19)} ${pct(r.rolledBack, r.runs).padStart(7)} ` +
            `${pct(r.stage1RolledBack, r.runs).padStart(8)} ${pct(r.undecided, r.runs).padStart(10)} ` +
            `${`${fmtN(r.medianMinutes)}/${fmtN(r.p90Minutes)}`.padStart(12)} ` +
            `${`${fmtN(r.p90Checks)}/${fmtN(r.maxChecks)}`.padStart(15)} ${fmtN(r.medianRequests).padStart(13)} ${ratio.padStart(7)}`,
        );
      }
    }
  }

  const falseRate = (x: Summary) => (x.rolledBack - x.undecided) / x.runs;
  const aaMax = Math.max(...TARGET_RPS.map((rps) => falseRate(get('ours', 0, rps))));
  const aaCorr = Math.max(...TARGET_RPS.map((rps) => falseRate(get('ours', 0, rps, true))));
  const unattended = (rps: number) => {
    const a = get('ours', 0, rps);
    return (a.promoted / a.runs).toFixed(4);
  };
  const errIndex = SCENARIOS.findIndex((x) => x.id === 'err_1_2');
  const caught = (s: number, rps: number) => {
    const r = get('ours', s, rps);
    return r.rolledBack / r.runs;
  };
  const regressions = SCENARIOS.map((_, i) => i).slice(1);
  const caughtAll1 = regressions.filter((s) => caught(s, 1) >= CAUGHT_1RPS).length;
  const stage1 = regressions.filter((s) => {
    const r = get('ours', s, 100);
    return r.stage1RolledBack >= STAGE1_SHARE * r.runs;
  }).length;
  console.log(`\nmedian rollout (healthy canary, promoted or not): ${medians.join('; ')}`);
  console.log(`elapsed ${((Date.now() - started) / 1000).toFixed(1)}s`);
  console.log(
    `judge aa_false_rollback_max=${aaMax.toFixed(4)} aa_correlated=${aaCorr.toFixed(4)} ` +
      `unattended_1rps=${unattended(1)} unattended_10rps=${unattended(10)} unattended_100rps=${unattended(100)} ` +
      `caught_err_1_2_1rps=${caught(errIndex, 1).toFixed(4)} caught_err_1_2_10rps=${caught(errIndex, 10).toFixed(4)} ` +
      `caught_all_1rps=${caughtAll1}/${regressions.length} stage1_catch_100rps=${stage1}/${regressions.length}`,
  );
}

if (isMainThread) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  parentPort!.on('message', (j: Job) => {
    if (j.traffic) {
      const model = loadModels(j.traffic.module).find((m) => m.id === j.traffic!.id)!;
      const options = j.traffic.old
        ? { v4: false, noConversations: true, outcomesAt: 'arrival' as const }
        : j.traffic.v4
          ? { v5: false }
          : j.traffic.v5
            ? { v6: false }
            : {};
      parentPort!.postMessage({
        ...j,
        outcomes: trafficOutcomes(model, j.rps, j.first ?? 0, j.runs, j.seed, options),
      } satisfies ThreadResult);
      return;
    }
    parentPort!.postMessage({
      ...j,
      summary: runScenario(j.judge, j.scenario, j.rps, j.runs, j.seed, j.sessions ?? false),
    });
  });
}
