// `status` and `list` through Temporal's HTTP API give the answer the SDK gives, for real rollouts on
// the suite's dev server, running and closed; a refused, absent or wrong HTTP API falls back to the
// SDK with the same output; and the fast path loads neither the SDK client nor the plan parser.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import {
  createServer as createNetServer,
  type AddressInfo,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { startRolloutInProgress, BIN, type RolloutInProgress } from '../bench/cli';
import { httpApiFor, resolveConnectionSettings } from '../src/temporal/connection';
import { SettingsError } from '../src/temporal/errors';
import { HttpApiUnusableError } from '../src/temporal/http-api';
import { getStatusOverHttp, statusName } from '../src/temporal/http-status';
import * as names from '../src/temporal/names';
import {
  closeEventCause,
  readClose,
  statusFromVisibility,
  withExecution,
  type DescribedExecution,
} from '../src/temporal/status-parts';
import {
  FINAL_STATES,
  ROLLED_BACK_FAILURE,
  ROLLOUT_STATES,
  SA,
  TASK_QUEUE,
  WORKFLOW_TYPE,
  workflowIdFor,
} from '../workflows/messages';
import { resolvePlan } from '../src/plan';
import { getStatus, listRollouts, startRollout } from '../src/temporal/rollouts';
import { listOverHttp } from '../src/temporal/http-list';
import { fakeDeps } from './fakes';
import { testEnv, uniqueName, withWorker } from './harness';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The command as a shell runs it, with AGENT_CANARY_DEBUG saying which path answered. */
function cli(args: string[], env: Record<string, string>): Promise<Run> {
  const e = testEnv();
  return new Promise((resolve) => {
    execFile(
      BIN,
      args,
      {
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '',
          TEMPORAL_ADDRESS: e.address,
          TEMPORAL_NAMESPACE: e.namespace,
          AGENT_CANARY_DEBUG: '1',
          ...env,
        },
        timeout: 60_000,
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const VIA_HTTP = /status via the HTTP API/;
const FELL_BACK = /not usable .*: status via the SDK/;

describe('cli fast path: the contract names it copies', () => {
  it('equal those of workflows/messages.ts', () => {
    assert.equal(names.WORKFLOW_TYPE, WORKFLOW_TYPE);
    assert.equal(names.TASK_QUEUE, TASK_QUEUE);
    assert.equal(names.workflowIdFor('a-b'), workflowIdFor('a-b'));
    assert.deepEqual(names.FINAL_STATES, FINAL_STATES);
    assert.deepEqual(names.ROLLOUT_STATE_NAMES, ROLLOUT_STATES);
    assert.deepEqual(names.SA_NAMES, Object.fromEntries(Object.entries(SA).map(([k, key]) => [k, key.name])));
    assert.equal(names.ROLLED_BACK_FAILURE, ROLLED_BACK_FAILURE);
  });
});

describe('cli fast path: where the HTTP API is', () => {
  const plain = { address: 'localhost:7233', tls: false as const, apiKey: undefined, metadata: undefined };

  it('defaults, for a plain-text server on this machine, to its gRPC port + 10', () => {
    assert.equal(httpApiFor(undefined, plain)?.href, 'http://localhost:7243/');
    assert.equal(
      httpApiFor(undefined, { ...plain, address: '127.0.0.1:40000' })?.href,
      'http://127.0.0.1:40010/',
    );
    assert.equal(httpApiFor(undefined, { ...plain, address: '[::1]:7233' })?.href, 'http://[::1]:7243/');
  });

  it('is not guessed for a remote server, under TLS, an API key or gRPC metadata', () => {
    assert.equal(httpApiFor(undefined, { ...plain, address: 'temporal.example.com:7233' }), null);
    assert.equal(httpApiFor(undefined, { ...plain, tls: true }), null);
    assert.equal(httpApiFor(undefined, { ...plain, apiKey: 'k' }), null);
    assert.equal(httpApiFor(undefined, { ...plain, metadata: { a: 'b' } }), null);
  });

  it('is what the user gives, "off" turns it off, and an API key never goes over plain http', () => {
    assert.equal(httpApiFor('https://t.example.com:8443', plain)?.href, 'https://t.example.com:8443/');
    assert.equal(httpApiFor('off', plain), null);
    assert.equal(httpApiFor('http://t.example.com:7243', { ...plain, apiKey: 'secret' }), null);
    assert.equal(
      resolveConnectionSettings(
        { address: 'localhost:7233' },
        { AGENT_CANARY_HTTP_API: 'http://127.0.0.1:9' },
      ).httpApi?.href,
      'http://127.0.0.1:9/',
    );
  });

  it('refuses a value that is not an http(s) URL, naming it, without echoing credentials', () => {
    for (const bad of ['localhost:7243', 'ftp://x:1', 'http://user:pw@h:1', 'http://h:1/?q=1', 'http://']) {
      assert.throws(
        () => httpApiFor(bad, plain),
        (err: Error) => err instanceof SettingsError && /HTTP API address/.test(err.message),
        bad,
      );
    }
  });
});

describe('cli fast path: reading a closed execution', () => {
  it('tells the cause as the SDK words it', () => {
    assert.equal(
      closeEventCause({ workflowExecutionTerminatedEventAttributes: { reason: 'by hand' } }),
      'by hand',
    );
    assert.equal(
      closeEventCause({ workflowExecutionTerminatedEventAttributes: { reason: '' } }),
      'Workflow execution terminated',
    );
    assert.equal(
      closeEventCause({
        workflowExecutionFailedEventAttributes: {
          failure: { message: 'Activity task failed', cause: { message: 'the router refused the split' } },
        },
      }),
      'the router refused the split',
    );
    assert.equal(closeEventCause({ workflowExecutionCanceledEventAttributes: {} }), 'Workflow canceled');
    assert.equal(
      closeEventCause({ workflowExecutionTimedOutEventAttributes: {} }),
      'Workflow execution timed out',
    );
    assert.equal(closeEventCause({}), null);
    assert.equal(statusName('WORKFLOW_EXECUTION_STATUS_CANCELED'), 'CANCELLED');
    assert.equal(statusName('WORKFLOW_EXECUTION_STATUS_TIMED_OUT'), 'TIMED_OUT');
  });
});

describe('cli fast path: whose ending a close is', () => {
  const d: DescribedExecution = {
    workflowId: 'canary-a',
    status: 'FAILED',
    startTime: new Date('2026-01-01T00:00:00Z'),
    closeTime: new Date('2026-01-01T01:00:00Z'),
    attributes: {},
  };
  const rolledBack = {
    workflowExecutionFailedEventAttributes: {
      failure: { message: 'rolled back: errors', applicationFailureInfo: { type: 'RolledBack' } },
    },
  };
  const result = { state: 'rolled_back', stable: 'v1', reason: 'errors' };

  it('a rollback or an abort the rollout closed with is its own ending: its status, no execution', () => {
    assert.deepEqual(readClose(rolledBack, result), { own: true, cause: 'rolled back: errors' });
    const base = { ...statusFromVisibility(d, 'a'), state: 'rolled_back' as const };
    assert.equal(withExecution(base, d, readClose(rolledBack, result)), base);
    assert.equal(readClose({ workflowExecutionCanceledEventAttributes: {} }).own, true);
  });

  it('anything else is not: terminated, timed out, failed otherwise, or a rollout that had not ended', () => {
    assert.equal(readClose(rolledBack, { state: 'nonsense' }).own, false);
    assert.equal(readClose({ workflowExecutionTerminatedEventAttributes: { reason: 'x' } }).own, false);
    assert.equal(readClose({ workflowExecutionTimedOutEventAttributes: {} }).own, false);
    assert.equal(
      readClose({ workflowExecutionFailedEventAttributes: { failure: { message: 'router refused' } } }).own,
      false,
    );
    // Canceled from outside while it still progressed: the execution's state is the truth.
    const s = withExecution(
      statusFromVisibility(d, 'a'),
      { ...d, status: 'CANCELLED' },
      readClose({
        workflowExecutionCanceledEventAttributes: {},
      }),
    );
    assert.deepEqual(s.execution, {
      status: 'CANCELLED',
      closedAt: '2026-01-01T01:00:00.000Z',
      cause: 'Workflow canceled',
    });
  });
});

describe('cli fast path: a real rollout on the dev server', function () {
  this.timeout(120_000);
  let rollout: RolloutInProgress | undefined;
  let junk: Server | undefined;
  let silent: NetServer | undefined;
  const held = new Set<Socket>();

  after(async () => {
    await rollout?.stop();
    await new Promise((r) => (junk ? junk.close(r) : r(undefined)));
    for (const socket of held) socket.destroy();
    await new Promise((r) => (silent ? silent.close(r) : r(undefined)));
  });

  const api = () => ({ url: new URL(testEnv().server.httpUrl) });

  /** Both paths until two reads agree (a check landing between them changes the status). */
  async function bothPaths(agent: string) {
    const env = testEnv();
    for (let attempt = 0; ; attempt++) {
      const sdk = await getStatus(env.client, agent);
      const http = await getStatusOverHttp(api(), agent, { namespace: env.namespace, timeoutMs: 10_000 });
      try {
        assert.deepStrictEqual(http, sdk);
        return http;
      } catch (err) {
        if (attempt >= 4) throw err;
      }
    }
  }

  it('running: the same status over HTTP as through the SDK, and from the command', async () => {
    const env = testEnv();
    rollout = await startRolloutInProgress({
      client: env.client,
      address: env.address,
      namespace: env.namespace,
      taskQueue: uniqueName('cli-fast'),
      workflowBundle: env.workflowBundle,
      // No check between two reads: the status holds still.
      analysisIntervalMs: 600_000,
    });
    const s = await bothPaths(rollout.agent);
    assert.equal(s.state, 'progressing');
    assert.equal(s.execution, undefined);

    const fast = await cli(['status', rollout.agent, '--json'], {
      AGENT_CANARY_HTTP_API: env.server.httpUrl,
    });
    const slow = await cli(['status', rollout.agent, '--json'], { AGENT_CANARY_HTTP_API: 'off' });
    assert.equal(fast.code, 0, fast.stderr);
    assert.match(fast.stderr, VIA_HTTP);
    assert.equal(slow.code, 0, slow.stderr);
    assert.doesNotMatch(slow.stderr, VIA_HTTP);
    assert.deepStrictEqual(JSON.parse(fast.stdout), JSON.parse(slow.stdout));
  });

  it('list: the same rows over HTTP as through the SDK, and from the command', async () => {
    const env = testEnv();
    const agent = rollout!.agent;
    // Visibility catches up shortly after a start: poll until the row is there, then compare.
    for (let attempt = 0; ; attempt++) {
      const sdk = await listRollouts(env.client, { agent });
      const http = await listOverHttp(api(), env.namespace, { agent });
      if (sdk.length === 1 && http.length === 1 && sdk[0].state === http[0].state) {
        assert.deepStrictEqual(http, sdk);
        break;
      }
      assert.ok(attempt < 40, `rows: ${JSON.stringify({ sdk, http })}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const fast = await cli(['list', '--agent', agent, '--json'], {
      AGENT_CANARY_HTTP_API: env.server.httpUrl,
    });
    const slow = await cli(['list', '--agent', agent, '--json'], { AGENT_CANARY_HTTP_API: 'off' });
    assert.match(fast.stderr, /list via the HTTP API/);
    assert.equal(fast.code, 0, fast.stderr);
    assert.deepStrictEqual(JSON.parse(fast.stdout), JSON.parse(slow.stdout));
    // Newest first and cut at the limit, on both paths (other tests start rollouts meanwhile: retry).
    for (let attempt = 0; ; attempt++) {
      const sdk = await listRollouts(env.client, { limit: 3 });
      const http = await listOverHttp(api(), env.namespace, { limit: 3 });
      try {
        assert.equal(http.length, Math.min(3, sdk.length));
        assert.deepStrictEqual(http, sdk);
        break;
      } catch (err) {
        if (attempt >= 4) throw err;
      }
    }
  });

  it('the fast path loads neither the SDK client nor the plan parser', async () => {
    const env = testEnv();
    const probe = `
      process.on('exit', () => require('node:fs').writeSync(2, '\\nloaded: ' + JSON.stringify(
        Object.keys(require.cache).filter((f) => /@temporalio[\\\\/]client|@grpc|src[\\\\/]plan[\\\\/]index|[\\\\/]yaml[\\\\/]/.test(f)))));
      process.argv = [process.argv[0], ${JSON.stringify(BIN)}, 'status', ${JSON.stringify(rollout!.agent)}];
      require(${JSON.stringify(BIN)});`;
    // Not spawnSync: the worker answering the query runs in this process.
    const r = await new Promise<Run>((resolve) =>
      execFile(
        process.execPath,
        ['-e', probe],
        {
          timeout: 30_000,
          env: { ...process.env, TEMPORAL_ADDRESS: env.address, AGENT_CANARY_HTTP_API: env.server.httpUrl },
        },
        (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }),
      ),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(/loaded: (.*)/.exec(r.stderr)![1]), []);
  });

  it('falls back to the SDK, same output, when the HTTP API is refused or answers something else', async () => {
    const env = testEnv();
    const agent = rollout!.agent;
    const expected = JSON.parse(
      (await cli(['status', agent, '--json'], { AGENT_CANARY_HTTP_API: 'off' })).stdout,
    );
    // A closed port: refused at once.
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as AddressInfo;
        s.close(() => resolve(port));
      });
    });
    // Something that is not Temporal's HTTP API: 200 with a body of the wrong shape.
    junk = createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":1}'),
    );
    await new Promise<void>((r) => junk!.listen(0, '127.0.0.1', r));
    const junkUrl = `http://127.0.0.1:${(junk.address() as AddressInfo).port}`;
    // Something that takes the connection and never answers (another server on the port guessed).
    silent = createNetServer((socket) => held.add(socket));
    await new Promise<void>((r) => silent!.listen(0, '127.0.0.1', r));
    const silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    for (const url of [`http://127.0.0.1:${closed}`, junkUrl, silentUrl]) {
      const t0 = Date.now();
      const r = await cli(['status', agent, '--json'], { AGENT_CANARY_HTTP_API: url });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, FELL_BACK, url);
      const got = JSON.parse(r.stdout);
      // Checks come every 10 minutes here: the two answers are the same one.
      assert.deepStrictEqual(got, expected, url);
      // A silent one costs READ_TIMEOUT_MS (3 s), not the query's 10 s.
      assert.ok(Date.now() - t0 < 9_000, `${url}: ${Date.now() - t0} ms`);
    }
    const list = await cli(['list', '--agent', agent, '--json'], { AGENT_CANARY_HTTP_API: junkUrl });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stderr, /not usable .*: list via the SDK/);
    assert.equal(JSON.parse(list.stdout)[0].agent, agent);
    // The default (gRPC port + 10) finds nothing on the suite's server: the SDK answers.
    const d = await cli(['status', agent], {});
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, new RegExp(`${agent} +v1 -> v2 +PROGRESSING`));
    await assert.rejects(
      getStatusOverHttp({ url: new URL(junkUrl) }, agent, { namespace: env.namespace, timeoutMs: 5_000 }),
      HttpApiUnusableError,
    );
  });

  it('no such rollout: the same message and exit code on both paths', async () => {
    const env = testEnv();
    const agent = uniqueName('cli-fast-none');
    const fast = await cli(['status', agent], { AGENT_CANARY_HTTP_API: env.server.httpUrl });
    const slow = await cli(['status', agent], { AGENT_CANARY_HTTP_API: 'off' });
    assert.equal(fast.code, 1);
    assert.equal(slow.code, 1);
    const message = (r: Run) =>
      r.stderr
        .split('\n')
        .filter((l) => !l.startsWith('agent-canary:'))
        .join('\n');
    assert.match(message(fast), /no rollout found for agent/);
    assert.equal(message(fast), message(slow));
    assert.doesNotMatch(fast.stderr, FELL_BACK);
  });

  it('terminated: the same status, execution state and cause over HTTP as through the SDK', async () => {
    const env = testEnv();
    const reason = 'cli-fast test: stopped by hand';
    await env.client.workflow.getHandle(rollout!.workflowId).terminate(reason);
    const s = await bothPaths(rollout!.agent);
    assert.equal(s.execution?.status, 'TERMINATED');
    assert.equal(s.execution?.cause, reason);
    const fast = await cli(['status', rollout!.agent], { AGENT_CANARY_HTTP_API: env.server.httpUrl });
    const slow = await cli(['status', rollout!.agent], { AGENT_CANARY_HTTP_API: 'off' });
    assert.match(fast.stderr, VIA_HTTP);
    // A terminated rollout exits 1 and says so, on both paths.
    assert.equal(fast.code, 1);
    assert.equal(slow.code, 1);
    assert.equal(fast.stdout, slow.stdout);
    assert.match(fast.stdout, /TERMINATED/);
  });

  it("failed: the same status and the router's words over HTTP as through the SDK", async () => {
    const env = testEnv();
    const { deps, router } = fakeDeps();
    const agent = uniqueName('cli-fast-failed');
    router.unknownAgents.add(agent);
    await withWorker(deps, async () => {
      const started = await startRollout(
        env.client,
        resolvePlan({
          agent,
          stable: 'v1',
          canary: 'v2',
          stages: [{ weight: 10, observe: '1m' }, { weight: 100 }],
        }),
      );
      await started.result().catch(() => undefined);
      const s = await bothPaths(agent);
      assert.equal(s.execution?.status, 'FAILED');
      assert.equal(s.execution?.cause, `the router refused the split: HTTP 404 unknown agent "${agent}"`);
    });
  });
});
