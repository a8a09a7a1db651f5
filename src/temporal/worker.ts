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
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    ...(workflowBundle ? { workflowBundle } : { workflowsPath }),
    activities: createActivities(options.deps),
    ...(options.identity ? { identity: options.identity } : {}),
    shutdownGraceTime: options.shutdownGraceTime ?? '10s',
  });
}
