import type { Command } from 'commander';
import { KubernetesRouter } from '../../router/kubernetes';
import { NativeConnection, Runtime, type LogLevel } from '@temporalio/worker';
import { sdkLogging, sdkLogLevel } from '../sdk-log';
import type { ActivityDeps } from '../../../activities';
import { createBackends, resolveBackendSettings, type BackendFlags } from '../../temporal/backends';
import { nativeConnectionOptions } from '../../temporal/connection';
import { ServerUnreachableError } from '../../temporal/errors';
import { createWorker, maxCachedWorkflowsFrom } from '../../temporal/worker';
import { UsageError } from '../errors';
import { TASK_QUEUE } from '../../../workflows/messages';
import { connectionSettings } from '../context';
import { RolloutMetrics } from '../../temporal/rollout-metrics';
import { rolloutEventLine, type RolloutEvent } from '../../temporal/rollout-events';
import { metricsListenProblem, serveRolloutMetrics } from '../../temporal/metrics-server';

export function addBackendOptions(cmd: Command): Command {
  return cmd
    .option(
      '--router <kind>',
      'where splits are written: gateway | webhook | kubernetes (env AGENT_CANARY_ROUTER)',
    )
    .option(
      '--metrics <kind>',
      'where metrics come from: gateway | prometheus | prometheus-query (env AGENT_CANARY_METRICS)',
    )
    .option('--gateway-url <url>', 'agent-canary gateway (env AGENT_CANARY_GATEWAY_URL)')
    .option('--gateway-token <token>', 'gateway admin token (env AGENT_CANARY_ADMIN_TOKEN)')
    .option('--router-url <url>', 'your router webhook, with --router webhook (env AGENT_CANARY_ROUTER_URL)')
    .option('--router-secret <secret>', 'HMAC secret for it (env AGENT_CANARY_ROUTER_SECRET)')
    .option(
      '--prometheus-url <url>',
      'Prometheus, with --metrics prometheus (env AGENT_CANARY_PROMETHEUS_URL)',
    )
    .option('--prometheus-selector <matchers>', 'extra label matchers for the gateway series')
    .option(
      '--prometheus-queries <file>',
      'PromQL templates per metric, with --metrics prometheus-query (env AGENT_CANARY_PROMETHEUS_QUERIES)',
    )
    .option('--kubeconfig <file>', 'with --router kubernetes; in-cluster credentials when omitted')
    .option('--kube-context <name>', 'kubeconfig context (env AGENT_CANARY_KUBE_CONTEXT)')
    .option('--kube-namespace <ns>', 'namespace of the HTTPRoutes (env AGENT_CANARY_KUBE_NAMESPACE)')
    .option('--kube-route <pattern>', 'HTTPRoute name, {agent} substituted (env AGENT_CANARY_KUBE_ROUTE)')
    .option(
      '--kube-backend <pattern>',
      'Service per version, {agent} and {version} substituted (env AGENT_CANARY_KUBE_BACKEND)',
    )
    .option('--ui-url <url>', 'Temporal Web UI base URL for links in notifications (env AGENT_CANARY_UI_URL)')
    .option(
      '--dashboard-url <url>',
      'agent-canary dashboard base URL for links in notifications (env AGENT_CANARY_DASHBOARD_URL)',
    );
}

/**
 * What the worker process is started with, unless its environment says otherwise (measured in
 * docs/production.md, "Many rollouts at once"):
 * - MALLOC_ARENA_MAX=2: glibc gives every thread that allocates its own malloc arena (up to 8 per
 *   core), and each arena keeps what it once held; the worker allocates from many threads (the Rust
 *   core's, Node's, V8's), so its native memory grew with its threads rather than with its rollouts.
 * - MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ at 128 KB (WORKER_MALLOC_ENV, below).
 * - --max-semi-space-size=4 (MB): each of the worker's two V8 heaps (main thread, workflow thread)
 *   keeps a young generation of up to twice that; Node 24's default lets each grow to 128 MB. At
 *   8 MB, 1,000 rollouts at 30 s checks plateaued 13 MB higher for the same CPU per check.
 * - --heap-growing-percent=25: after each full collection V8 lets a heap grow to up to 4 times what
 *   survived before collecting again; the worker's live data is small (60 MB a heap at 300
 *   rollouts) and its garbage plentiful, so each heap sat at 2-3 times its live data. At 1.25 times a
 *   full collection comes every few seconds and costs well under 1% of a core (bench:scale).
 * glibc reads its variable only when a process starts, so a worker started without it replaces itself
 * (process.execve, Node 22.15+) by the same command with both; MALLOC_ARENA_MAX set in the
 * environment, even empty, means "as it is", and a flag already given (command line or NODE_OPTIONS)
 * is kept as given.
 */
export const WORKER_MALLOC_ARENA_MAX = '2';
/**
 * glibc's malloc otherwise raises its mmap threshold (and with it the trim threshold) each time a
 * large block is freed, up to 32 MB: the core's and Node's large buffers (histories, activations,
 * gRPC frames) then come from the arenas and stay there, fragmented, after they are freed. Fixed at
 * glibc's own starting value, blocks of 128 KB or more are mapped and unmapped, and the arenas' free
 * tops go back to the system.
 */
export const WORKER_MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: WORKER_MALLOC_ARENA_MAX,
  MALLOC_MMAP_THRESHOLD_: '131072',
  MALLOC_TRIM_THRESHOLD_: '131072',
};
export const WORKER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--heap-growing-percent=25'];

export interface Relaunch {
  env: NodeJS.ProcessEnv;
  /** Node flags to add before the script. */
  nodeFlags: string[];
}

/** How to restart the worker process, or undefined to run as it is. */
export function workerRelaunch(
  env: NodeJS.ProcessEnv,
  execArgv: readonly string[],
  platform: NodeJS.Platform,
  canReplace: boolean,
): Relaunch | undefined {
  if (platform !== 'linux' || !canReplace || env.MALLOC_ARENA_MAX !== undefined) return undefined;
  // V8 takes - and _ alike in a flag's name.
  const name = (flag: string) => flag.split('=')[0].replaceAll('_', '-');
  const given = new Set([...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)].map(name));
  return {
    // An operator's own setting of either threshold stays.
    env: { ...WORKER_MALLOC_ENV, ...env, MALLOC_ARENA_MAX: WORKER_MALLOC_ARENA_MAX },
    nodeFlags: WORKER_NODE_FLAGS.filter((flag) => !given.has(name(flag))),
  };
}

type Execve = (file: string, args: readonly string[], env: NodeJS.ProcessEnv) => never;

/** Restarts this process as workerRelaunch says, when it says so and Node can. */
function relaunchTuned(): void {
  const execve = (process as unknown as { execve?: Execve }).execve;
  const relaunch = workerRelaunch(
    process.env,
    process.execArgv,
    process.platform,
    typeof execve === 'function',
  );
  if (!relaunch || !execve) return;
  const args = [process.execPath, ...process.execArgv, ...relaunch.nodeFlags, ...process.argv.slice(1)];
  try {
    // The same node, flags and command line; on success this call does not return.
    execve.call(process, process.execPath, args, relaunch.env);
  } catch {
    // Not replaced (the binary moved, a sandbox refused): run as it is, with the defaults.
  }
}

let runtimeInstalled = false;
/**
 * Once per process: Ctrl-C and SIGTERM shut workers down gracefully (in-flight split writes land).
 * Each rollout event is one line on stdout (`events`, default: rolloutEventLine); the SDK's and
 * core's own lines, which read as the tool breaking (a rollback closes its workflow as Failed on
 * purpose), only at ERROR unless AGENT_CANARY_LOG_LEVEL asks for more.
 */
export function installRuntime(
  events: (event: RolloutEvent) => void = (e) => process.stdout.write(`${rolloutEventLine(e)}\n`),
  level: LogLevel = 'ERROR',
): void {
  if (runtimeInstalled) return;
  const chosen = sdkLogLevel(level);
  runtimeInstalled = true;
  Runtime.install({
    ...sdkLogging(chosen, (line) => process.stderr.write(`${line}\n`), events),
    shutdownSignals: ['SIGINT', 'SIGTERM'],
  });
}

/** Runs a worker until a shutdown signal; resolves when it has stopped. */
export async function runWorker(
  connection: NativeConnection,
  namespace: string,
  deps: ActivityDeps,
  maxCachedWorkflows: number = cacheSetting(),
): Promise<void> {
  const worker = await createWorker({ connection, namespace, deps, maxCachedWorkflows });
  process.stderr.write(
    `worker: polling task queue "${TASK_QUEUE}" in namespace "${namespace}" (Ctrl-C to stop)\n`,
  );
  await worker.run();
}

/** AGENT_CANARY_MAX_CACHED_WORKFLOWS, checked before anything starts. */
function cacheSetting(): number {
  try {
    return maxCachedWorkflowsFrom();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** What --help says about the backends beside the flag list: defaults and what each one needs. */
const BACKENDS_HELP = `
Routers (--router):
  gateway     the agent-canary gateway's admin API (--gateway-url, --gateway-token)
  webhook     your own endpoint, HMAC-signed (--router-url, --router-secret)
  kubernetes  the stable and canary backendRef weights of a Gateway API HTTPRoute
              --kubeconfig / --kube-context  credentials (default $KUBECONFIG, ~/.kube/config,
                                             or the pod's ServiceAccount in a cluster)
              --kube-namespace               the routes' namespace (default: the context's or pod's)
              --kube-route                   route name, default "{agent}"
              --kube-backend                 Service per version, default "{agent}-{version}"
              needs get, list and patch on httproutes (deploy/kubernetes/base/rbac.yaml); the
              worker also sweeps lapsed leases every 10s, returning their traffic to stable

Metrics (--metrics):
  gateway           the gateway's per-second series (default)
  prometheus        the gateway's series scraped by Prometheus (--prometheus-url)
  prometheus-query  your own PromQL per metric (--prometheus-url, --prometheus-queries); also
                    reads the plan's analysis.custom metrics (cost, tokens per task...)

Capacity: each running rollout holds one activity slot while its next check waits (5,000 per
worker) and, cached, about 0.4 MB of memory at 1,000 rollouts;
AGENT_CANARY_MAX_CACHED_WORKFLOWS (default 2000) sets how many the worker keeps in memory between
checks. The worker relaunches itself with MALLOC_ARENA_MAX=2 and --max-semi-space-size=4 unless
MALLOC_ARENA_MAX is set. Run more workers for more rollouts (docs/production.md, "Many rollouts at
once").

Rollout metrics (--metrics-listen host:port, env AGENT_CANARY_WORKER_METRICS_LISTEN): GET /metrics
serves agent_canary_rollout_* (state, stage, weight, time in stage, checks, decisions) for
Prometheus (docs/gitops.md).

See docs/kubernetes.md for a first rollout on a cluster.
`;

/** --metrics-listen or its variable, checked before anything starts; undefined = not served. */
function metricsListen(flag: string | undefined): string | undefined {
  const value = flag ?? process.env.AGENT_CANARY_WORKER_METRICS_LISTEN;
  if (value === undefined || value === '') return undefined;
  const problem = metricsListenProblem(value);
  if (problem) throw new UsageError(`--metrics-listen: ${problem}`);
  return value;
}

export function register(program: Command): void {
  addBackendOptions(
    program
      .command('worker')
      .description('run the agent-canary worker (the canaryRollout workflow and its activities)')
      .option(
        '--metrics-listen <host:port>',
        'serve the rollout metrics at /metrics, e.g. 0.0.0.0:9464 (env AGENT_CANARY_WORKER_METRICS_LISTEN)',
      )
      .addHelpText('after', BACKENDS_HELP),
  ).action(async (flags: BackendFlags & { metricsListen?: string }, cmd: Command) => {
    relaunchTuned();
    const settings = connectionSettings(cmd);
    const listen = metricsListen(flags.metricsListen);
    const deps = createBackends(resolveBackendSettings({ ...flags, namespace: settings.namespace }));
    const maxCachedWorkflows = cacheSetting();
    const rolloutMetrics = listen ? new RolloutMetrics() : undefined;
    if (rolloutMetrics) deps.observe = rolloutMetrics;
    installRuntime();
    let connection: NativeConnection;
    try {
      connection = await NativeConnection.connect(nativeConnectionOptions(settings));
    } catch (err) {
      throw new ServerUnreachableError(settings.address, (err as Error).message);
    }
    // Kubernetes has no gateway of ours to let a lapsed lease fall back: the worker sweeps them.
    const sweeper = deps.router instanceof KubernetesRouter ? deps.router.startLeaseSweeper() : undefined;
    const served = rolloutMetrics && listen ? await serveRolloutMetrics(rolloutMetrics, listen) : undefined;
    if (served) process.stderr.write(`worker: rollout metrics at ${served.url}/metrics\n`);
    try {
      await runWorker(connection, settings.namespace, deps, maxCachedWorkflows);
    } finally {
      await served?.close();
      await sweeper?.stop();
      await connection.close();
    }
  });
}
