// Builds the agent-canary worker: the canaryRollout workflow plus activities over the given backends.
import type { Duration } from '@temporalio/common';
import {
  NativeConnection,
  Worker,
  bundleWorkflowCode,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../activities';
import { TASK_QUEUE } from '../../workflows/messages';
import { prebuiltWorkflowBundle } from './workflow-bundle';

export const workflowsPath = require.resolve('../../workflows');

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
}

/**
 * Checks of new rollouts wait inside their activity until they are due (one per running rollout), so
 * the activity slots must outnumber the rollouts a worker serves; waiting costs a timer, not a thread.
 */
export const MAX_CONCURRENT_ACTIVITIES = 5_000;

/** A worker whose shutdown first hands back the checks waiting for their time (see waitUntil). */
class CanaryWorker extends Worker {
  stopping?: AbortController;
  override shutdown(): void {
    this.stopping?.abort();
    super.shutdown();
  }
}

export function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath, logger: quietBundlerLogger });
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
  const workflowBundle = options.workflowBundle ?? (await prebuiltWorkflowBundle());
  const stopping = new AbortController();
  const worker = (await CanaryWorker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    ...(workflowBundle ? { workflowBundle } : { workflowsPath }),
    activities: createActivities({ ...options.deps, stopping: stopping.signal }),
    ...(options.identity ? { identity: options.identity } : {}),
    shutdownGraceTime: options.shutdownGraceTime ?? '10s',
    maxConcurrentActivityTaskExecutions: MAX_CONCURRENT_ACTIVITIES,
  })) as CanaryWorker;
  worker.stopping = stopping;
  return worker;
}
