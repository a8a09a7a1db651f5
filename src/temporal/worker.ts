// Builds the agent-canary worker: the canaryRollout workflow plus activities over the given backends.
import type { Duration } from '@temporalio/common';
import {
  NativeConnection,
  Worker,
  bundleWorkflowCode,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { z } from 'zod';
import { createActivities, type ActivityDeps } from '../../activities';
import { TASK_QUEUE } from '../../workflows/messages';
import { asciiBundle, prebuiltWorkflowBundle, WORKFLOW_BUNDLER_OPTIONS } from './workflow-bundle';
import { describeZodError } from '../text/zod-problems';

export interface WorkerOptions {
  connection: NativeConnection;
  namespace: string;
  deps: ActivityDeps;
  taskQueue?: string;
  /** A bundle made once with bundleWorkflows(); the worker bundles on start when omitted. */
  workflowBundle?: WorkflowBundleWithSourceMap;
  identity?: string;
  /** How long in-flight activities get to finish on shutdown (a split write should land). */
  shutdownGraceTime?: Duration;
  /** Rollouts kept in memory between their checks (default: AGENT_CANARY_MAX_CACHED_WORKFLOWS or 2,000). */
  maxCachedWorkflows?: number;
}

/**
 * Checks of new rollouts wait inside their activity until they are due (one per running rollout), so
 * the activity slots must outnumber the rollouts a worker serves; waiting costs a timer, not a thread.
 */
export const MAX_CONCURRENT_ACTIVITIES = 5_000;

/**
 * Workflow tasks a worker takes at once. They run one after another on the workflow thread, and a
 * task not done within its timeout (10 s) is thrown away and replayed from history, so taking many
 * only moves the queue from the server into the worker, where it times out. 1,000 rollouts started at
 * once on a busy machine (bench:scale, with the lean sandbox): with the SDK's 40, 43 workflow tasks
 * timed out and first checks came 106 s late (p50); with 10, 10 and 72 s. A new rollout's first task
 * costs tens of ms of CPU (the sandbox's modules are instantiated per rollout).
 */
export const MAX_CONCURRENT_WORKFLOW_TASKS = 10;

/**
 * A poller for every slot, half on the task queue, half on the worker's sticky queue (the SDK's 0.2
 * gives one in five to the task queue). New runs take their first task from the task queue: a new
 * rollout, each rollout after a worker restart, and every run continuing as new (patch bounded-runs:
 * a rollout every 10-20 checks). With 5 pollers at 0.2, one on the task queue, continued runs' first
 * tasks waited seconds behind each other: 300 rollouts at 10 s checks (bench:scale, quiet), workflow
 * tasks queued 3.1 s at p50 and 22 s at p99, checks late 30 s at p99; at 1, 67 ms and 2.4 s, late
 * 0.0 s. Fewer on the sticky queue left cached rollouts' tasks waiting there past its 10 s under a
 * CPU-heavy process (1,000 rollouts: 3,880 such timeouts, each a replay, checks late 30 s at p99);
 * 10 pollers: 1,761, late 0.03 s.
 */
export const NON_STICKY_TO_STICKY_POLL_RATIO = 1;

/**
 * The SDK sizes its workflow cache from the heap limit, so a worker in a small container would keep
 * a few dozen rollouts and replay every other one from its history at each check. Each cached
 * rollout takes well under a megabyte (see docs/production.md, "Many rollouts"), so the default keeps
 * 2,000 whatever the heap.
 */
export const DEFAULT_MAX_CACHED_WORKFLOWS = 2_000;
const MaxCachedSchema = z.coerce
  .number({ message: 'must be a whole number' })
  .int('must be a whole number')
  .min(2, 'must be at least 2')
  .max(100_000, 'must be at most 100000');

export function maxCachedWorkflowsFrom(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.AGENT_CANARY_MAX_CACHED_WORKFLOWS;
  if (raw === undefined || raw === '') return DEFAULT_MAX_CACHED_WORKFLOWS;
  const parsed = MaxCachedSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(
      `AGENT_CANARY_MAX_CACHED_WORKFLOWS: ${describeZodError(parsed.error)} (got "${raw.slice(0, 40)}")`,
    );
  }
  return parsed.data;
}

/**
 * The SDK keeps each cached run's last workflow task completion (a few hundred bytes, a Buffer from
 * Node's shared pool) until the run's next task, and with it the whole pool slab it was cut from:
 * 64 KB on Node 22 and later, 8 KB before. At 1,000 rollouts that was 315 slabs, 20 MB of the
 * main thread (heap snapshot, 2026-12-06); with the older size a pinned slab is an eighth of that.
 */
export const WORKER_BUFFER_POOL_SIZE = 8 * 1024;

/** A worker whose shutdown first hands back the checks waiting for their time (see waitUntil). */
class CanaryWorker extends Worker {
  stopping?: AbortController;
  override shutdown(): void {
    this.stopping?.abort();
    super.shutdown();
  }
}

export async function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  const bundle = await bundleWorkflowCode({ ...WORKFLOW_BUNDLER_OPTIONS, logger: quietBundlerLogger });
  return { ...bundle, code: asciiBundle(bundle.code) };
}

const noop = () => undefined;
const quietBundlerLogger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: console.error,
  log: noop,
};

export async function createWorker(options: WorkerOptions): Promise<Worker> {
  // The bundle `npm run build` made, while it matches the sources; else webpack runs now (seconds).
  const workflowBundle =
    options.workflowBundle ?? (await prebuiltWorkflowBundle()) ?? (await bundleWorkflows());
  Buffer.poolSize = Math.min(Buffer.poolSize, WORKER_BUFFER_POOL_SIZE);
  const stopping = new AbortController();
  const worker = (await CanaryWorker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    workflowBundle,
    activities: createActivities({ ...options.deps, stopping: stopping.signal }),
    ...(options.identity ? { identity: options.identity } : {}),
    shutdownGraceTime: options.shutdownGraceTime ?? '10s',
    maxConcurrentActivityTaskExecutions: MAX_CONCURRENT_ACTIVITIES,
    maxCachedWorkflows: options.maxCachedWorkflows ?? maxCachedWorkflowsFrom(),
    maxConcurrentWorkflowTaskExecutions: MAX_CONCURRENT_WORKFLOW_TASKS,
    maxConcurrentWorkflowTaskPolls: MAX_CONCURRENT_WORKFLOW_TASKS,
    nonStickyToStickyPollRatio: NON_STICKY_TO_STICKY_POLL_RATIO,
  })) as CanaryWorker;
  worker.stopping = stopping;
  return worker;
}
