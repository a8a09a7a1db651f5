// Mocha root hooks: one dev server and one workflow bundle for the whole run, torn down at the end.
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { startDevServer } from '../src/temporal/devserver';
import { bundleWorkflows } from '../src/temporal/worker';
import { setTestEnv, testEnv } from './harness';

Runtime.install({ logger: new DefaultLogger(process.env.TEST_LOG_LEVEL === 'debug' ? 'INFO' : 'ERROR') });

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(20 * 60_000); // a first run may build the Temporal CLI
    const [server, workflowBundle] = await Promise.all([
      startDevServer({ ui: false, log: (l) => process.stderr.write(`${l}\n`) }),
      bundleWorkflows(),
    ]);
    const connection = await Connection.connect({ address: server.address });
    const nativeConnection = await NativeConnection.connect({ address: server.address });
    setTestEnv({
      server,
      address: server.address,
      namespace: server.namespace,
      uiUrl: server.uiUrl,
      connection,
      client: new Client({ connection, namespace: server.namespace }),
      nativeConnection,
      workflowBundle,
    });
  },
  async afterAll(this: Mocha.Context) {
    this.timeout(30_000);
    let env;
    try {
      env = testEnv();
    } catch {
      return;
    }
    setTestEnv(undefined);
    // Each step on its own: a test that left a worker behind must not keep the server alive.
    await env.nativeConnection
      .close()
      .catch((err) => process.stderr.write(`closing worker connection: ${err}\n`));
    await env.connection.close().catch(() => undefined);
    await env.server.stop();
  },
};
