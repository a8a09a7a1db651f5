// Mocha fixtures. The suite runs its files in parallel processes (.mocharc.json), and many tests run
// a worker on the rollout's own task queue with activities of their own: two processes sharing one
// Temporal server would take each other's tasks. So each test process has its own dev server,
// started with the first file that runs there and kept for the files after it. The workflow bundle
// is made once per run (global fixture, main process) and read from a file by every process.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import {
  DefaultLogger,
  NativeConnection,
  Runtime,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { startDevServer, type DevServer } from '../src/temporal/devserver';
import { bundleWorkflows } from '../src/temporal/worker';
import { currentTestEnv, setTestEnv, type TestEnv } from './harness';
import { recordedSkips } from './support/prerequisites';

Runtime.install({ logger: new DefaultLogger(process.env.TEST_LOG_LEVEL === 'debug' ? 'INFO' : 'ERROR') });

const BUNDLE_FILE = 'AGENT_CANARY_TEST_BUNDLE';
const SKIPS_FILE = 'AGENT_CANARY_TEST_SKIPS';

let scratch: string | undefined;

export async function mochaGlobalSetup(): Promise<void> {
  scratch = mkdtempSync(join(tmpdir(), 'agent-canary-test-run-'));
  const started = Date.now();
  const bundle = await bundleWorkflows();
  const file = join(scratch, 'workflow-bundle.json');
  writeFileSync(file, JSON.stringify(bundle));
  process.env[BUNDLE_FILE] = file;
  process.env[SKIPS_FILE] = join(scratch, 'skipped.txt');
  process.stderr.write(`test run: workflows bundled in ${Date.now() - started} ms\n`);
}

export async function mochaGlobalTeardown(): Promise<void> {
  const skips = recordedSkips(process.env[SKIPS_FILE]);
  if (skips.length > 0) {
    process.stderr.write(`\nSkipped for want of a part this machine lacks (CI=true runs them all):\n`);
    for (const line of skips) process.stderr.write(`  - ${line}\n`);
  }
  // Serial runs (`mocha --no-parallel`, a single file) test in this process.
  await stopProcessEnv();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
}

let starting: Promise<TestEnv> | undefined;
let server: DevServer | undefined;

/** This process's server and connections, started once. */
function processEnv(): Promise<TestEnv> {
  starting ??= (async () => {
    const bundleFile = process.env[BUNDLE_FILE];
    if (!bundleFile) throw new Error('no workflow bundle: run the tests through `npm test` (test/hooks.ts)');
    const workflowBundle = JSON.parse(readFileSync(bundleFile, 'utf8')) as WorkflowBundleWithSourceMap;
    server = await startDevServer({ ui: false, log: (l) => process.stderr.write(`${l}\n`) });
    // The server's reaper (bin/reaper.js) stops it if this process dies without the teardown.
    const connection = await Connection.connect({ address: server.address });
    const nativeConnection = await NativeConnection.connect({ address: server.address });
    return {
      server,
      address: server.address,
      namespace: server.namespace,
      uiUrl: server.uiUrl,
      connection,
      client: new Client({ connection, namespace: server.namespace }),
      nativeConnection,
      workflowBundle,
    };
  })();
  return starting;
}

async function stopProcessEnv(): Promise<void> {
  const env = currentTestEnv();
  setTestEnv(undefined);
  starting = undefined;
  // Each step on its own: a test that left a worker behind must not keep the server alive.
  await env?.nativeConnection
    .close()
    .catch((err) => process.stderr.write(`closing worker connection: ${err}\n`));
  await env?.connection.close().catch(() => undefined);
  await server?.stop();
  server = undefined;
}

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(120_000); // a first run may still be finding the Temporal CLI
    setTestEnv(await processEnv());
  },
};
