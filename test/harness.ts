// Shared test harness: one real Temporal dev server for the whole mocha run (started by the root
// hooks in hooks.ts), workflow code bundled once, and workers run for the span of a test.
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { ActivityDeps } from '../activities';
import type { DevServer } from '../src/temporal/devserver';
import { createWorker } from '../src/temporal/worker';

export interface TestEnv {
  server: DevServer;
  address: string;
  namespace: string;
  uiUrl: string | null;
  connection: Connection;
  client: Client;
  nativeConnection: NativeConnection;
  workflowBundle: WorkflowBundleWithSourceMap;
}

let current: TestEnv | undefined;

export function setTestEnv(env: TestEnv | undefined): void {
  current = env;
}

/** The environment if one is set (the hooks' teardown), without throwing. */
export function currentTestEnv(): TestEnv | undefined {
  return current;
}

export function testEnv(): TestEnv {
  if (!current)
    throw new Error('test environment not started: run through `npm test` (root hooks in test/hooks.ts)');
  return current;
}

let counter = 0;
/** A unique suffix for agent names and workflow ids, so tests never see each other's rollouts. */
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

export interface RunningWorker {
  worker: Worker;
  /** Stops the worker and waits until it has shut down. */
  stop(): Promise<void>;
}

export async function startWorker(
  deps: ActivityDeps,
  opts: { taskQueue?: string } = {},
): Promise<RunningWorker> {
  const env = testEnv();
  const worker = await createWorker({
    connection: env.nativeConnection,
    namespace: env.namespace,
    deps,
    taskQueue: opts.taskQueue,
    workflowBundle: env.workflowBundle,
    shutdownGraceTime: '1s',
  });
  const running = worker.run();
  return {
    worker,
    stop: async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    },
  };
}

/** Runs fn with a worker polling the given task queue, and always shuts the worker down after. */
export async function withWorker<T>(
  deps: ActivityDeps,
  fn: (w: RunningWorker) => Promise<T>,
  opts: { taskQueue?: string } = {},
): Promise<T> {
  const w = await startWorker(deps, opts);
  try {
    return await fn(w);
  } finally {
    await w.stop();
  }
}

/** Polls until predicate holds, failing with the last seen value after timeoutMs. */
export async function eventually<T>(
  probe: () => Promise<T> | T,
  predicate: (value: T) => boolean,
  { timeoutMs = 20_000, intervalMs = 100, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      if (predicate(last)) return last;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(
    `timed out after ${timeoutMs}ms waiting for ${what}; last value: ${JSON.stringify(last)}${lastError ? `; last error: ${String(lastError)}` : ''}`,
  );
}

export { Client, Connection, NativeConnection };
