// npm run bench:scale: many rollouts at once on one worker, one gateway and a dev server (SQLite
// file), then the same on two workers. Per N it prints how late checks are against the plan's
// cadence, the checks per second sustained, worker CPU per check, worker and gateway RSS and history
// events per check, and one summary line for scripts:
//   scale n=<N> first_p50_s=<x> first_p90_s=<x> first_max_s=<x> first_missing=<k> restart_p50_s=<x>
//     restart_max_s=<x> restart_missing=<k> late_p99_s=<x> worker_rss_mb=<x> worker_malloc_mb=<x>
//     worker_v8_other_mb=<x> events_per_check=<x> two_worker_speedup=<x>
// first_*: how long after it was due (the rollout's start plus one interval) each rollout's first
// check was done, over every rollout; first_missing counts those with none within two intervals of
// it. restart_*: the worker is SIGKILLed after the steady window and a new one started; how long
// after it was due (or after the new worker polled, if later) each rollout's next check was done.
//
//   npm run bench:scale                       N = 100, 300, 1000 at 30 s checks, 150 s each
//   BENCH_QUICK=1 npm run bench:scale         N = 30 at 5 s checks, 40 s (a smoke run)
//   BENCH_N=200 BENCH_INTERVAL_S=10 BENCH_WINDOW_S=120 npm run bench:scale
//   BENCH_HOG=1 ...                           with a CPU-heavy process beside (one core busy)
//   BENCH_RESTART=0 ...                       without the worker restart
//   MALLOC_ARENA_MAX=16 ...                   the worker as it is (no relaunch with its settings)
//
// Plans have one 2 h stage and no traffic, so every check reads an empty window: what is measured is
// the shape of the work (activities, timers, history), not the judge.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { workerRelaunch } from '../src/cli/commands/worker';
import { resolvePlan } from '../src/plan';
import { startDevServer } from '../src/temporal/devserver';
import { startRollout } from '../src/temporal/rollouts';

const ROOT = join(__dirname, '..');
const TOKEN = 'bench-scale-admin-token-0123456789';
const quick = process.env.BENCH_QUICK === '1';
const sizes = process.env.BENCH_N
  ? process.env.BENCH_N.split(',').map(Number)
  : quick
    ? [30]
    : [100, 300, 1000];
const intervalS = Number(process.env.BENCH_INTERVAL_S ?? (quick ? 5 : 30));
const windowS = Number(process.env.BENCH_WINDOW_S ?? (quick ? 40 : 150));
/** Node flags for the workers, e.g. BENCH_WORKER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof". */
const workerNodeArgs = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
/**
 * The worker relaunches itself with its memory settings where Node can (process.execve, 22.15+);
 * on an older Node the bench gives them by hand, as docs/production.md tells operators to.
 */
const selfTuned = typeof (process as unknown as { execve?: unknown }).execve === 'function';
const byHand =
  selfTuned || process.env.MALLOC_ARENA_MAX !== undefined
    ? undefined
    : workerRelaunch({ NODE_OPTIONS: process.env.NODE_OPTIONS }, workerNodeArgs, 'linux', true);
const settingsByHand = byHand && {
  env: { MALLOC_ARENA_MAX: byHand.env.MALLOC_ARENA_MAX ?? '' },
  nodeFlags: byHand.nodeFlags,
};
/** The saturated runs: more checks asked for than one worker can do (see main). */
const satN = Number(process.env.BENCH_SAT_N ?? (quick ? 60 : 300));
const satIntervalS = Number(process.env.BENCH_SAT_INTERVAL_S ?? 1);
const satWindowS = Number(process.env.BENCH_SAT_WINDOW_S ?? (quick ? 30 : 60));
/** Histories read per run to measure lateness and events (reading all 1,000 would load the server). */
const SAMPLE = Number(process.env.BENCH_SAMPLE ?? 40);
/** A CPU-heavy process beside the run (as a build on the same machine): one core kept busy. */
const hog = process.env.BENCH_HOG === '1';
/** After the steady window: SIGKILL the worker, start another, time every rollout's next check. */
const restartRuns = process.env.BENCH_RESTART !== '0';
/** The server suggests continuing as new after this many events (its default is thousands). */
const canEvents = process.env.BENCH_CAN_EVENTS ? Number(process.env.BENCH_CAN_EVENTS) : undefined;
/** Every process's output appended to this file (with BENCH_WORKER_NODE_ARGS=--trace-gc, the GCs). */
const workerLog = process.env.BENCH_WORKER_LOG;

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

function agentCanary(args: string[], env: Record<string, string>, nodeArgs: string[] = []): ChildProcess {
  const child = spawn(process.execPath, [...nodeArgs, join(ROOT, 'bin', 'agent-canary.js'), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-4000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  if (workerLog) {
    child.stdout!.on('data', (d: Buffer) => appendFileSync(workerLog, d));
    child.stderr!.on('data', (d: Buffer) => appendFileSync(workerLog, d));
  }
  (child as ChildProcess & { output: () => string }).output = () => out;
  return child;
}

async function until(
  what: string,
  probe: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
  everyMs = 200,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** RSS (MB) and CPU seconds (user + system) of a process, from /proc. */
async function usage(pid: number): Promise<{ rssMb: number; cpuS: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]);
  return { rssMb: rssKb / 1024, cpuS: ticks / 100 };
}

/**
 * Where a process's resident memory is, from /proc/<pid>/smaps: malloc (glibc's main heap and its
 * per-thread arenas, 64 MB-aligned regions: the Rust core's and Node's native allocations), files
 * (node, the core's library, other mapped code) and the rest of the anonymous memory (the V8 heaps
 * of the main and workflow threads, stacks, and malloc's blocks above its mmap threshold, which the
 * worker sets to 128 KB).
 */
interface MemoryParts {
  mallocMb: number;
  arenas: number;
  filesMb: number;
  v8AndOtherMb: number;
}

async function memoryParts(pid: number): Promise<MemoryParts> {
  const ARENA = 64n * 1024n * 1024n;
  const regions: { start: bigint; end: bigint; perm: string; name: string; rssKb: number }[] = [];
  for (const line of (await readFile(`/proc/${pid}/smaps`, 'utf8')).split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m)
      regions.push({
        start: BigInt(`0x${m[1]}`),
        end: BigInt(`0x${m[2]}`),
        perm: m[3],
        name: m[4],
        rssKb: 0,
      });
    const rss = /^Rss:\s+(\d+)/.exec(line);
    if (rss && regions.length > 0) regions[regions.length - 1].rssKb = Number(rss[1]);
  }
  const kb = { malloc: 0, files: 0, other: 0 };
  let arenas = 0;
  regions.forEach((r, i) => {
    const next = regions[i + 1];
    // A glibc arena: an anonymous read-write region at a 64 MB boundary, its unused rest reserved.
    const rest =
      next && next.start === r.end && next.perm === '---p' && !next.name ? next.end - next.start : 0n;
    const arena = !r.name && r.perm === 'rw-p' && r.start % ARENA === 0n && r.end - r.start + rest === ARENA;
    if (arena) arenas += 1;
    if (r.name === '[heap]' || arena) kb.malloc += r.rssKb;
    else if (r.name.startsWith('/')) kb.files += r.rssKb;
    else kb.other += r.rssKb;
  });
  return { mallocMb: kb.malloc / 1024, arenas, filesMb: kb.files / 1024, v8AndOtherMb: kb.other / 1024 };
}

/** The worker's Node, its flags and malloc setting, as it runs (it may have relaunched itself). */
async function processSettings(pid: number): Promise<string> {
  const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
  const env = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
  const flags = argv.slice(1).filter((a) => a.startsWith('--'));
  const malloc = env.filter((e) => e.startsWith('MALLOC_'));
  return `${argv[0]} ${flags.join(' ') || '(no flags)'}, ${malloc.join(' ') || 'MALLOC_* unset'}`;
}

const fmtParts = (p: MemoryParts) =>
  `malloc ${p.mallocMb.toFixed(0)} MB (${p.arenas} arenas beside the main heap), ` +
  `V8 heaps and other anonymous ${p.v8AndOtherMb.toFixed(0)} MB, files ${p.filesMb.toFixed(0)} MB`;

type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];

function eventMs(e: HistoryEvent): number {
  return Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor(Number(e.eventTime?.nanos ?? 0) / 1e6);
}

function decodeInput(data: Uint8Array | null | undefined): { at?: unknown } | null {
  if (!data) return null;
  try {
    return JSON.parse(Buffer.from(data).toString('utf8')) as { at?: unknown };
  } catch {
    return null;
  }
}

function pct(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

/**
 * The wait an event ends: an activity scheduled -> picked up (pickup), a workflow task scheduled ->
 * picked up (queued), picked up -> completed (ran).
 */
function taskGap(
  e: HistoryEvent,
  byId: Map<string, HistoryEvent>,
): { kind: 'pickup' | 'queued' | 'ran'; ms: number } | undefined {
  const since = (id: unknown) => {
    const from = byId.get(String(id));
    return from ? eventMs(e) - eventMs(from) : undefined;
  };
  const pairs = [
    ['pickup', e.activityTaskStartedEventAttributes?.scheduledEventId],
    ['queued', e.workflowTaskStartedEventAttributes?.scheduledEventId],
    ['ran', e.workflowTaskCompletedEventAttributes?.startedEventId],
  ] as const;
  for (const [kind, id] of pairs) {
    const ms = id == null ? undefined : since(id);
    if (ms !== undefined) return { kind, ms };
  }
  return undefined;
}

/** A checkCanary done: when it completed, and the time it was handed to wait for (deferred checks). */
interface CheckDone {
  doneMs: number;
  at?: number;
}

/**
 * A rollout's history: the events of each of its runs, oldest run first (a run that continued as
 * new is followed back to the first). Event ids restart in each run, so runs stay apart.
 */
type Runs = HistoryEvent[][];

/** The start of a rollout's history and its checks done, in order. */
function checksDone(runs: Runs): { startMs: number; checks: CheckDone[] } {
  const checks: CheckDone[] = [];
  for (const events of runs) {
    const byId = new Map(events.map((e) => [String(e.eventId), e] as const));
    for (const e of events) {
      const done = e.activityTaskCompletedEventAttributes;
      if (!done) continue;
      const scheduled = byId.get(String(done.scheduledEventId))?.activityTaskScheduledEventAttributes;
      if (scheduled?.activityType?.name !== 'checkCanary') continue;
      const input = decodeInput(scheduled.input?.payloads?.[0]?.data);
      checks.push({ doneMs: eventMs(e), ...(typeof input?.at === 'number' ? { at: input.at } : {}) });
    }
  }
  const first = runs[0]?.[0];
  return { startMs: first ? eventMs(first) : NaN, checks };
}

async function rolloutRuns(client: Client, workflowId: string): Promise<Runs> {
  const runs: Runs = [];
  let runId: string | undefined;
  for (;;) {
    const events = (await client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
    runs.unshift(events);
    runId = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId ?? undefined;
    if (!runId) return runs;
  }
}

/** Every rollout's history, a few reads at a time (all at once would load the server). */
async function allHistories(client: Client, agents: string[]): Promise<Runs[]> {
  const out: Runs[] = new Array(agents.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < agents.length) {
        const i = next++;
        out[i] = await rolloutRuns(client, `canary-${agents[i]}`);
      }
    }),
  );
  return out;
}

/** Seconds late per rollout (null: no check); missing counts those beyond the limit or with none. */
interface Lateness {
  p50: number;
  p90: number;
  max: number;
  missing: number;
}

function lateness(values: (number | null)[], limitS: number): Lateness {
  const done = values.filter((v): v is number => v !== null);
  return {
    p50: pct(done, 0.5),
    p90: pct(done, 0.9),
    max: done.length > 0 ? Math.max(...done) : NaN,
    missing: values.filter((v) => v === null || v > limitS).length,
  };
}

/** An event's kind from its attributes' name ("activityTaskScheduled"). */
function eventKind(e: HistoryEvent): string {
  const key = Object.keys(e).find((k) => k.endsWith('EventAttributes') && e[k as keyof HistoryEvent]);
  return (key ?? '?').replace('EventAttributes', '');
}

function firstCheckAt(events: HistoryEvent[]): number {
  const check = events.find(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'checkCanary',
  );
  return check && events.length > 0 ? eventMs(check) - eventMs(events[0]) : Infinity;
}

/**
 * Where a first check's time goes, over every rollout (BENCH_FIRST_DETAIL=1): the first workflow
 * task's wait in the queue and its run, and each activity's wait before a worker picked it up.
 */
function logFirstTasks(histories: HistoryEvent[][]): void {
  const queued: number[] = [];
  const ran: number[] = [];
  const pickup: number[] = [];
  const firstCheckScheduled: number[] = [];
  for (const events of histories) {
    const byId = new Map(events.map((e) => [String(e.eventId), e] as const));
    const start = events.length > 0 ? eventMs(events[0]) : NaN;
    for (const e of events) {
      const gap = taskGap(e, byId);
      if (gap?.kind === 'queued' && queued.length < histories.length * 3) queued.push(gap.ms);
      if (gap?.kind === 'ran') ran.push(gap.ms);
      if (gap?.kind === 'pickup') pickup.push(gap.ms);
    }
    const check = events.find(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'checkCanary',
    );
    if (check) firstCheckScheduled.push(eventMs(check) - start);
  }
  // The events up to the first check of the rollout whose check came last: where it waited.
  const slowest = histories.reduce((a, b) => (firstCheckAt(b) > firstCheckAt(a) ? b : a));
  const t0 = slowest.length > 0 ? eventMs(slowest[0]) : 0;
  const upTo = slowest.findIndex(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'checkCanary',
  );
  const kind = eventKind;
  log(
    `  slowest start: ${slowest
      .slice(0, upTo < 0 ? 20 : upTo + 1)
      .map((e) => `${kind(e)}@${eventMs(e) - t0}`)
      .join(' ')}`,
  );
  const ms = (v: number[]) =>
    `${pct(v, 0.5).toFixed(0)}/${pct(v, 0.9).toFixed(0)}/${Math.max(0, ...v).toFixed(0)} ms`;
  log(
    `  first tasks (p50/p90/max): workflow task queued ${ms(queued)}, run ${ms(ran)}; ` +
      `activity pickup ${ms(pickup)}; first check scheduled ${ms(firstCheckScheduled)} after the start`,
  );
}

const fmtLate = (l: Lateness) =>
  `${l.p50.toFixed(1)}/${l.p90.toFixed(1)}/${l.max.toFixed(1)} s late (p50/p90/max), ${l.missing} beyond 2 intervals`;

async function sleepUntil(at: number, alive: () => void): Promise<void> {
  while (Date.now() < at) {
    alive();
    await new Promise((r) => setTimeout(r, Math.min(2000, Math.max(0, at - Date.now()))));
  }
}

interface RunResult {
  n: number;
  /** First checks of the rollouts started at once: against start + one interval. */
  first: Lateness;
  /** The next check of every rollout after the worker was killed and replaced (null: not run). */
  restart: Lateness | null;
  /** The replacement worker's peak RSS (MB) while it took the rollouts over. */
  restartRssMb: number;
  workers: number;
  lateP50: number;
  lateP99: number;
  lateMax: number;
  checksPerS: number;
  cpuMsPerCheck: number;
  workerRssMb: number;
  /** Where the worker's memory was at its peak. */
  workerParts?: MemoryParts;
  gatewayRssMb: number;
  eventsPerCheck: number;
  /** The Temporal dev server's CPU over the window, in % of one core. */
  serverCpuPct: number;
}

interface RunShape {
  n: number;
  workers: number;
  intervalS: number;
  windowS: number;
  /** Kill and replace the worker after the steady window (one-worker runs at the plan's cadence). */
  restart?: boolean;
}

async function run({ n, workers, intervalS, windowS, restart = false }: RunShape): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'ac-bench-scale-'));
  const server = await startDevServer({
    ui: false,
    dbFilename: join(dir, 'temporal.db'),
    log: () => {},
    ...(canEvents ? { dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': canEvents } } : {}),
  });
  const procs: ChildProcess[] = [];
  if (hog) {
    procs.push(
      spawn(process.execPath, ['-e', 'let x = 0; for (;;) x += Math.sqrt(x + 1);'], { stdio: 'ignore' }),
    );
  }
  try {
    const agents = Array.from({ length: n }, (_, i) => `scale-${i}`);
    const config = join(dir, 'gateway.json');
    // No traffic reaches the upstreams: an address nothing listens on is enough.
    writeFileSync(
      config,
      JSON.stringify({
        agents: Object.fromEntries(
          agents.map((a) => [
            a,
            { stable: 'v1', versions: { v1: 'http://127.0.0.1:9', v2: 'http://127.0.0.1:9' } },
          ]),
        ),
      }),
    );
    const gwPort = 20000 + Math.floor(Math.random() * 20000);
    const gateway = agentCanary(
      ['gateway', '-c', config, '--port', String(gwPort), '--data-dir', join(dir, 'gw')],
      {
        AGENT_CANARY_ADMIN_TOKEN: TOKEN,
      },
    );
    procs.push(gateway);
    await until('the gateway', async () => {
      try {
        return (await fetch(`http://127.0.0.1:${gwPort}/healthz`)).ok;
      } catch {
        return false;
      }
    });
    const workerEnv = {
      TEMPORAL_ADDRESS: server.address,
      AGENT_CANARY_GATEWAY_URL: `http://127.0.0.1:${gwPort}`,
      AGENT_CANARY_ADMIN_TOKEN: TOKEN,
      ...settingsByHand?.env,
    };
    const workerProcs = Array.from({ length: workers }, () =>
      agentCanary(['worker'], workerEnv, [...workerNodeArgs, ...(settingsByHand?.nodeFlags ?? [])]),
    );
    procs.push(...workerProcs);
    for (const w of workerProcs) {
      await until('a worker polling', () =>
        (w as ChildProcess & { output: () => string }).output().includes('polling'),
      );
    }
    log(
      `  worker process: ${await processSettings(workerProcs[0].pid!)}` +
        (settingsByHand ? ' (given by the bench: this Node cannot relaunch itself)' : ''),
    );

    const connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });
    const plan = (agent: string) =>
      resolvePlan({
        agent,
        stable: 'v1',
        canary: 'v2',
        stages: [{ weight: 5, observe: '2h' }, { weight: 100 }],
        analysis: { interval: `${intervalS}s`, inconclusiveLimit: 10_000 },
        progressDeadline: '6h',
      });
    const alive = () => {
      for (const p of [...workerProcs, gateway]) {
        if (p.exitCode !== null || p.signalCode !== null) {
          const out = (p as ChildProcess & { output: () => string }).output();
          throw new Error(
            `a process of the bench exited (${p.exitCode ?? p.signalCode}): ${out.slice(-1500)}`,
          );
        }
      }
    };
    const idle = await Promise.all(workerProcs.map((w) => usage(w.pid!)));
    const t0 = Date.now();
    for (let i = 0; i < n; i += 50) {
      await Promise.all(agents.slice(i, i + 50).map((a) => startRollout(client, plan(a))));
    }
    const lastStart = Date.now();
    log(`n=${n} workers=${workers}: ${n} rollouts started in ${((lastStart - t0) / 1000).toFixed(1)} s`);
    // Every rollout's first check is due one interval after its start and allowed two more.
    await sleepUntil(lastStart + 3 * intervalS * 1000 + 2000, alive);
    const started = await allHistories(client, agents);
    const first = lateness(
      started.map((events) => {
        const { startMs, checks } = checksDone(events);
        return checks.length > 0 ? (checks[0].doneMs - startMs) / 1000 - intervalS : null;
      }),
      2 * intervalS,
    );
    // Schedule-to-start (2): waited over 10 s on the worker's sticky queue, then taken from the task
    // queue with the whole history; start-to-close (1): taken, but not done within its 10 s.
    const timeouts = (hs: Runs[]) => {
      const all = hs.flatMap((runs) => runs.flat().filter((e) => e.workflowTaskTimedOutEventAttributes));
      const sticky = all.filter(
        (e) => Number(e.workflowTaskTimedOutEventAttributes!.timeoutType) === 2,
      ).length;
      return `${all.length} (${sticky} waiting on the sticky queue, ${all.length - sticky} taken and not done in time)`;
    };
    log(`  workflow tasks timed out (each one a replay): ${timeouts(started)}`);
    if (process.env.BENCH_FIRST_DETAIL === '1') {
      // When they timed out (s after the first start): all at once is a stalled worker.
      const at = started
        .flatMap((runs) =>
          runs
            .flat()
            .filter((e) => e.workflowTaskTimedOutEventAttributes)
            .map(eventMs),
        )
        .sort((a, b) => a - b)
        .map((t) => ((t - t0) / 1000).toFixed(0));
      log(`  timed out at (s): ${at.join(' ')}`);
    }
    const startCpuS = (await Promise.all(workerProcs.map((w) => usage(w.pid!)))).reduce(
      (t, u, i) => t + u.cpuS - idle[i].cpuS,
      0,
    );
    log(
      `  first checks: ${fmtLate(first)}; worker RSS idle ${idle.map((u) => u.rssMb.toFixed(0)).join('/')} MB, ` +
        `worker CPU ${((startCpuS * 1000) / n).toFixed(0)} ms per started rollout`,
    );
    // A rollout's first tasks are in its first run.
    if (process.env.BENCH_FIRST_DETAIL === '1') logFirstTasks(started.map((runs) => runs[0] ?? []));
    const sample = agents.filter((_, i) => i % Math.max(1, Math.floor(n / SAMPLE)) === 0).slice(0, SAMPLE);
    const cpu0 = await Promise.all(workerProcs.map((w) => usage(w.pid!)));
    const server0 = await usage(server.pid);
    const steadyFrom = Date.now();
    let peakWorker = 0;
    let peakParts: MemoryParts | undefined;
    let peakGateway = 0;
    while (Date.now() - steadyFrom < windowS * 1000) {
      await new Promise((r) => setTimeout(r, 5000));
      alive();
      const ws = await Promise.all(workerProcs.map((w) => usage(w.pid!)));
      if (Math.max(...ws.map((u) => u.rssMb)) > peakWorker) {
        peakWorker = Math.max(...ws.map((u) => u.rssMb));
        const biggest = workerProcs[ws.findIndex((u) => u.rssMb === peakWorker)];
        peakParts = await memoryParts(biggest.pid!);
      }
      peakGateway = Math.max(peakGateway, (await usage(gateway.pid!)).rssMb);
      // The split of the first worker's memory as it goes: growth per check shows in one of them.
      const split = await memoryParts(workerProcs[0].pid!);
      log(
        `  ${Math.round((Date.now() - steadyFrom) / 1000)} s: worker RSS ${ws.map((u) => u.rssMb.toFixed(0)).join('/')} MB ` +
          `(malloc ${split.mallocMb.toFixed(0)}, V8 and other ${split.v8AndOtherMb.toFixed(0)})`,
      );
    }
    const steadyTo = Date.now();
    if (peakParts) log(`  worker at its peak (${peakWorker.toFixed(0)} MB): ${fmtParts(peakParts)}`);
    const cpu1 = await Promise.all(workerProcs.map((w) => usage(w.pid!)));
    const server1 = await usage(server.pid);

    // Lateness against the plan's cadence. Deferred checks (the activity waits until the time it was
    // given): the gap between two checks done, minus the interval. Older rollouts (a timer, then the
    // check): the gap between two check schedules minus the interval.
    const late: number[] = [];
    let checks = 0;
    let events = 0;
    // Where the time goes: activity scheduled -> picked up, workflow task scheduled -> picked up,
    // workflow task picked up -> completed.
    const pickup: number[] = [];
    const wftQueue: number[] = [];
    const wftRun: number[] = [];
    for (const agent of sample) {
      const runs = await rolloutRuns(client, `canary-${agent}`);
      const inWindow: HistoryEvent[] = [];
      const schedules: number[] = [];
      const doneAt: number[] = [];
      let deferred = false;
      for (const all of runs) {
        const due = new Map<string, number>();
        for (const e of all) {
          const a = e.activityTaskScheduledEventAttributes;
          if (!a?.activityType?.name?.match(/check|analyze/i)) continue;
          const input = decodeInput(a.input?.payloads?.[0]?.data);
          if (typeof input?.at === 'number') due.set(String(e.eventId), input.at);
          else if (eventMs(e) >= steadyFrom && eventMs(e) < steadyTo) schedules.push(eventMs(e));
        }
        deferred ||= due.size > 0;
        doneAt.push(
          ...all
            .filter((e) => due.has(String(e.activityTaskCompletedEventAttributes?.scheduledEventId)))
            .map(eventMs),
        );
        const byId = new Map(all.map((e) => [String(e.eventId), e] as const));
        for (const e of all) {
          const t = eventMs(e);
          if (t < steadyFrom || t >= steadyTo) continue;
          inWindow.push(e);
          const gap = taskGap(e, byId);
          if (gap) ({ pickup, queued: wftQueue, ran: wftRun })[gap.kind].push(gap.ms);
        }
      }
      // Deferred checks: how much later than one interval after the last check each check was done
      // (a check handed out late is due at a later slot, so its due time alone would hide that), and
      // the one still missing at the end of the window.
      for (let i = 1; i < doneAt.length; i++) {
        if (doneAt[i] < steadyFrom || doneAt[i] >= steadyTo) continue;
        late.push(Math.max(0, (doneAt[i] - doneAt[i - 1]) / 1000 - intervalS));
        checks += 1;
      }
      const lastDone = doneAt.filter((t) => t < steadyTo).at(-1);
      if (deferred && lastDone !== undefined && steadyTo - lastDone > intervalS * 1000) {
        late.push((steadyTo - lastDone) / 1000 - intervalS);
      }
      for (let i = 1; i < schedules.length; i++)
        late.push(Math.max(0, (schedules[i] - schedules[i - 1]) / 1000 - intervalS));
      checks += schedules.length;
      events += inWindow.length;
      if (process.env.BENCH_EVENT_TYPES === '1' && sample.indexOf(agent) % 10 === 0) {
        const counts = new Map<string, number>();
        for (const e of inWindow) {
          const type = Object.keys(e).find((k) => k.endsWith('EventAttributes')) ?? String(e.eventType);
          counts.set(type, (counts.get(type) ?? 0) + 1);
        }
        log(`  events of ${agent} in the window: ${[...counts].map(([k, v]) => `${k}=${v}`).join(' ')}`);
      }
    }
    const ms = (v: number[]) => `${pct(v, 0.5).toFixed(0)}/${pct(v, 0.99).toFixed(0)} ms`;
    log(
      `  where the time goes (p50/p99): activity pickup ${ms(pickup)}, workflow task queued ${ms(wftQueue)}, ` +
        `workflow task run ${ms(wftRun)}`,
    );
    const scale = n / sample.length;
    const seconds = (steadyTo - steadyFrom) / 1000;
    const cpuS = cpu1.reduce((t, u, i) => t + u.cpuS - cpu0[i].cpuS, 0);

    let restarted: Lateness | null = null;
    let restartRssMb = NaN;
    if (restart && workers === 1) {
      const killedAt = Date.now();
      workerProcs[0].kill('SIGKILL');
      await new Promise((r) => workerProcs[0].once('exit', r));
      const fresh = agentCanary(['worker'], workerEnv, [
        ...workerNodeArgs,
        ...(settingsByHand?.nodeFlags ?? []),
      ]);
      procs.push(fresh);
      workerProcs[0] = fresh;
      await until('the new worker polling', () =>
        (fresh as ChildProcess & { output: () => string }).output().includes('polling'),
      );
      const freshAt = Date.now();
      log(`  worker killed; the new one polls ${((freshAt - killedAt) / 1000).toFixed(1)} s later`);
      // Every next check is due within an interval of the new worker's start, and allowed two more.
      const until3 = freshAt + 3 * intervalS * 1000 + 2000;
      restartRssMb = 0;
      while (Date.now() < until3) {
        await sleepUntil(Math.min(until3, Date.now() + 5000), alive);
        restartRssMb = Math.max(restartRssMb, (await usage(fresh.pid!)).rssMb);
      }
      const afterRestart = await allHistories(client, agents);
      log(`  workflow tasks timed out since the start: ${timeouts(afterRestart)}`);
      if (process.env.BENCH_FIRST_DETAIL === '1') {
        // What a rollout without a check since the kill went through (ms after the new worker polled).
        const stuck = afterRestart.find(
          (events) => !checksDone(events).checks.some((c) => c.doneMs > killedAt),
        );
        if (stuck) {
          log(
            `  no check since the kill: ${stuck
              .flat()
              .filter((e) => eventMs(e) > killedAt - 5000)
              .map((e) => `${eventKind(e)}@${eventMs(e) - freshAt}`)
              .join(' ')}`,
          );
        }
      }
      restarted = lateness(
        afterRestart.map((events) => {
          const { checks } = checksDone(events);
          const i = checks.findIndex((c) => c.doneMs > killedAt);
          if (i < 0) return null;
          const due = checks[i].at ?? (i > 0 ? checks[i - 1].doneMs + intervalS * 1000 : freshAt);
          return (checks[i].doneMs - Math.max(due, freshAt)) / 1000;
        }),
        2 * intervalS,
      );
      log(`  after the restart: ${fmtLate(restarted)}, new worker RSS ${restartRssMb.toFixed(0)} MB`);
    }
    await connection.close();
    return {
      n,
      first,
      restart: restarted,
      restartRssMb,
      workers,
      lateP50: pct(late, 0.5),
      lateP99: pct(late, 0.99),
      lateMax: late.length ? Math.max(...late) : NaN,
      checksPerS: (checks * scale) / seconds,
      cpuMsPerCheck: (cpuS * 1000) / Math.max(1, checks * scale),
      workerRssMb: peakWorker,
      ...(peakParts ? { workerParts: peakParts } : {}),
      gatewayRssMb: peakGateway,
      eventsPerCheck: checks ? events / checks : NaN,
      serverCpuPct: ((server1.cpuS - server0.cpuS) / ((steadyTo - steadyFrom) / 1000)) * 100,
    };
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(
      procs.map(
        (p) =>
          new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r(null) : p.once('exit', r))),
      ),
    );
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  log(`bench:scale: N=${sizes.join(',')}, checks every ${intervalS} s, ${windowS} s measured per run`);
  const rows: RunResult[] = [];
  for (const n of sizes) rows.push(await run({ n, workers: 1, intervalS, windowS, restart: restartRuns }));
  const biggest = sizes[sizes.length - 1];
  // Scale-out: at the plan's cadence one worker keeps up, so the checks done per second are the
  // demand, the same for two. What a second worker adds shows when checks are asked for faster than
  // one worker can do them: the same rollouts at a short interval, one worker, then two.
  let two: RunResult | null = null;
  let saturated: RunResult[] = [];
  if (process.env.BENCH_TWO_WORKERS !== '0') {
    two = await run({ n: biggest, workers: 2, intervalS, windowS });
    rows.push(two);
    const shape = { n: satN, intervalS: satIntervalS, windowS: satWindowS };
    saturated = [await run({ ...shape, workers: 1 }), await run({ ...shape, workers: 2 })];
  }
  process.stdout.write(
    'n     workers  late p50/p99/max s   checks/s  cpu ms/check  worker MB  gateway MB  events/check  server CPU\n',
  );
  for (const r of rows) {
    process.stdout.write(
      `${String(r.n).padEnd(6)}${String(r.workers).padEnd(9)}` +
        `${`${r.lateP50.toFixed(1)}/${r.lateP99.toFixed(1)}/${r.lateMax.toFixed(1)}`.padEnd(21)}` +
        `${r.checksPerS.toFixed(1).padEnd(10)}${r.cpuMsPerCheck.toFixed(1).padEnd(14)}` +
        `${r.workerRssMb.toFixed(0).padEnd(11)}${r.gatewayRssMb.toFixed(0).padEnd(12)}` +
        `${r.eventsPerCheck.toFixed(1).padEnd(14)}${r.serverCpuPct.toFixed(0)}%\n`,
    );
  }
  for (const r of rows.filter((r) => r.workers === 1)) {
    process.stdout.write(
      `${r.n} rollouts started at once: first checks ${fmtLate(r.first)}` +
        (r.restart
          ? `; worker killed and replaced: next checks ${fmtLate(r.restart)}, new worker ${r.restartRssMb.toFixed(0)} MB`
          : '') +
        '\n',
    );
  }
  for (const r of saturated) {
    process.stdout.write(
      `saturated: ${r.n} rollouts at ${satIntervalS} s checks, ${r.workers} worker(s): ${r.checksPerS.toFixed(1)} checks/s, ` +
        `late p50 ${r.lateP50.toFixed(1)} s, ${r.cpuMsPerCheck.toFixed(1)} worker CPU ms/check, ` +
        `Temporal dev server at ${r.serverCpuPct.toFixed(0)}% of one core\n`,
    );
  }
  const speedup =
    saturated.length === 2 ? (saturated[1].checksPerS / saturated[0].checksPerS).toFixed(2) : 'n/a';
  const one = rows.find((r) => r.n === biggest && r.workers === 1)!;
  const r = one.restart;
  process.stdout.write(
    `scale n=${biggest}${hog ? ' hog=1' : ''} first_p50_s=${one.first.p50.toFixed(1)} ` +
      `first_p90_s=${one.first.p90.toFixed(1)} first_max_s=${one.first.max.toFixed(1)} ` +
      `first_missing=${one.first.missing} ` +
      (r
        ? `restart_p50_s=${r.p50.toFixed(1)} restart_max_s=${r.max.toFixed(1)} restart_missing=${r.missing} ` +
          `restart_rss_mb=${one.restartRssMb.toFixed(0)} `
        : '') +
      `late_p99_s=${one.lateP99.toFixed(2)} worker_rss_mb=${one.workerRssMb.toFixed(0)} ` +
      (one.workerParts
        ? `worker_malloc_mb=${one.workerParts.mallocMb.toFixed(0)} ` +
          `worker_v8_other_mb=${one.workerParts.v8AndOtherMb.toFixed(0)} `
        : '') +
      `events_per_check=${one.eventsPerCheck.toFixed(1)} two_worker_speedup=${speedup}\n`,
  );
}

main().catch((err) => {
  process.stderr.write(`bench:scale failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
