// End to end on the production topology: Temporal on PostgreSQL (scripts/temporal-postgres.sh's
// stack), `agent-canary worker` and two `agent-canary gateway` replicas as separate processes
// sharing the same PostgreSQL, Debian's HAProxy in front of them, user traffic through HAProxy
// to two real agent servers per rollout. One rollout is promoted although the
// Temporal server is killed (SIGKILL) and started again on the same database in the middle of it;
// one with a degraded canary is rolled back. Run by `npm run test:postgres`, not by `npm test`.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';
import { startSimulatedAgent, type SimulatedAgent } from '../../src/demo/agents';
import { healthyProfile, regressedProfile } from '../../src/demo/profiles';
import { demoPlan } from '../../src/demo/run';
import { startTraffic, type Traffic } from '../../src/demo/traffic';
import { GatewayRouter } from '../../src/router/gateway';
import { findTemporalCli } from '../../src/temporal/cli-finder';
import { freePort } from '../../src/temporal/devserver';
import { findServerBinaries, runTool } from '../../src/temporal/postgres-binaries';
import { findPostgresBin, startPostgres } from '../../src/temporal/postgres-db';
import { startLocalStack, type LocalStack } from '../../src/temporal/postgres-stack';
import { rolloutResult, startRollout } from '../../src/temporal/rollouts';
import { SA, statusQuery, workflowIdFor, type RolloutResult } from '../../workflows/messages';
import { eventually } from '../harness';
import { startHaproxy } from '../replicas-support';
import pg from 'pg';

const ROOT = path.join(__dirname, '..', '..');
const TOKEN = 'pg-e2e-admin-token-0123456789';
const AGENTS = { promoted: 'pg-support-bot', rolledBack: 'pg-search-bot' } as const;

interface Proc {
  child: ChildProcess;
  output(): string;
}

/** `agent-canary ...` as its own process; its output is kept for the failure message. */
function agentCanary(args: string[]): Proc {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'agent-canary.js'), ...args], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      XDG_CONFIG_HOME: path.join(os.tmpdir(), 'agent-canary-test-no-config'),
      AGENT_CANARY_ADMIN_TOKEN: TOKEN,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-8000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, output: () => out };
}

async function stopProc(p: Proc | undefined): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Waits for a line in the process output; fails at once if the process exits first. */
function untilOutput(p: Proc, pattern: RegExp, what: string, timeoutMs = 60_000): Promise<void> {
  return eventually(
    () => {
      if (p.child.exitCode !== null) throw new Error(`${what}: exited ${p.child.exitCode}: ${p.output()}`);
      return p.output();
    },
    (out) => pattern.test(out),
    { what, timeoutMs, intervalMs: 100 },
  ).then(() => undefined);
}

describe('end to end on Temporal with PostgreSQL: worker and gateway processes', function () {
  this.timeout(10 * 60_000);
  let stateDir: string;
  let stack: LocalStack;
  let gateways: Proc[] = [];
  let gatewayPorts: number[] = [];
  let lb: { url: string; child: ChildProcess } | undefined;
  let worker: Proc;
  let gatewayUrl: string;
  let connection: Connection;
  let client: Client;
  const agents: SimulatedAgent[] = [];
  const traffic: Traffic[] = [];
  const router = () => new GatewayRouter({ url: gatewayUrl, token: TOKEN });

  before(async function () {
    // The Go build of the server takes minutes when nothing is cached; .ci/run builds it beforehand.
    this.timeout(30 * 60_000);
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'agent-canary-pg-e2e-'));
    chmodSync(stateDir, 0o755); // PostgreSQL runs as its own account when we are root
    stack = await startLocalStack({ stateDir, log: (l) => process.stderr.write(`      ${l}\n`) });

    const upstreams: Record<string, { stable: string; versions: Record<string, string> }> = {};
    for (const [agent, canary] of [
      [AGENTS.promoted, healthyProfile('v2')],
      [AGENTS.rolledBack, regressedProfile('errors', 'v2')],
    ] as const) {
      const v1 = await startSimulatedAgent({ ...healthyProfile('v1'), seed: agents.length + 1 });
      const v2 = await startSimulatedAgent({ ...canary, seed: agents.length + 2 });
      agents.push(v1, v2);
      upstreams[agent] = { stable: 'v1', versions: { v1: v1.url, v2: v2.url } };
    }
    const configFile = path.join(stateDir, 'gateway.json');
    writeFileSync(configFile, JSON.stringify({ agents: upstreams }));
    // The replicas' shared state: a database of its own on the stack's PostgreSQL.
    const { host, port: pgPort, user, password } = stack.postgres;
    const admin = new pg.Client({
      connectionString: `postgres://${user}:${password}@${host}:${pgPort}/postgres`,
    });
    await admin.connect();
    await admin.query('CREATE DATABASE agent_canary_gateway').finally(() => admin.end());
    const sharedState = `postgres://${user}:${password}@${host}:${pgPort}/agent_canary_gateway`;
    gatewayPorts = [await freePort(), await freePort()];
    gateways = gatewayPorts.map((port, i) =>
      agentCanary([
        'gateway',
        ...['--config', configFile, '--port', String(port), '--shared-state', sharedState],
        ...['--replica-id', `gw${i + 1}`, '--lease-sweep', '200'],
      ]),
    );
    for (const g of gateways) await untilOutput(g, /gateway on http/, 'the gateway replicas to listen');
    lb = await startHaproxy(
      stateDir,
      gatewayPorts.map((port, i) => ({ id: `gw${i + 1}`, port })),
    );
    gatewayUrl = lb.url;

    worker = agentCanary([
      'worker',
      ...['--address', stack.address, '--namespace', stack.namespace, '--gateway-url', gatewayUrl],
    ]);
    await untilOutput(worker, /worker: polling task queue/, 'the worker to poll');

    connection = await Connection.connect({ address: stack.address });
    client = new Client({ connection, namespace: stack.namespace });
  });

  after(async function () {
    this.timeout(60_000);
    await Promise.all(traffic.splice(0).map((t) => t.stop()));
    await stopProc(worker);
    for (const g of gateways) await stopProc(g);
    if (lb) await stopProc({ child: lb.child, output: () => '' });
    await connection?.close().catch(() => undefined);
    await Promise.all(agents.splice(0).map((a) => a.close()));
    await stack?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  const sendTraffic = (agent: string) => {
    const t = startTraffic({
      gatewayUrl,
      agent,
      rps: 30,
      sessions: 200,
      feedback: true,
      // The standalone gateway takes outcomes and feedback only with a token (the admin token by default).
      ingestToken: TOKEN,
      maxDurationMs: 5 * 60_000,
    });
    traffic.push(t);
    return t;
  };

  /**
   * The rollout's result, polled through describe(): a long poll on result() would fail while the
   * server is down, a poll just tries again.
   */
  const resultOf = async (agent: string): Promise<RolloutResult> => {
    const handle = client.workflow.getHandle(workflowIdFor(agent));
    await eventually(
      () => handle.describe(),
      (d) => d.status.name !== 'RUNNING',
      { what: `${agent}'s rollout to end`, timeoutMs: 5 * 60_000, intervalMs: 500 },
    );
    // startRollout closes a rollback as Failed and an abort as Canceled (docs/web-ui.md): read it as
    // every client of ours does.
    return rolloutResult(client, workflowIdFor(agent));
  };

  it('promotes a healthy canary although the Temporal server is killed and restarted mid-stage', async function () {
    const agent = AGENTS.promoted;
    const t = sendTraffic(agent);
    const started = await startRollout(client, demoPlan(agent, { observeMs: 10_000, intervalMs: 1000 }));
    const handle = client.workflow.getHandle(started.workflowId);

    // Mid-stage: the canary serves part of the traffic and its stage has been observed for 2 s.
    // (Not "after a passing check": with plenty of data one check can end the stage at once.)
    const mid = await eventually(
      () => handle.query(statusQuery),
      (s) => s.state !== 'promoted' && s.canaryPercent > 0 && s.canaryPercent < 100 && s.observedMs >= 2000,
      { what: 'the rollout in the middle of a stage', timeoutMs: 120_000, intervalMs: 200 },
    );
    const oldPid = stack.server().pid;
    const restartedAt = Date.now();
    const server = await stack.restartServer({ crash: true });
    assert.notEqual(server.pid, oldPid);
    assert.equal(server.address, stack.address, 'the server came back on the same address');
    const restartMs = Date.now() - restartedAt;
    process.stderr.write(`      Temporal server killed and serving again in ${restartMs} ms\n`);
    // The history lives in PostgreSQL: the same run is still there, and still running.
    const after = await handle.describe();
    assert.equal(after.runId, started.runId);
    assert.equal(after.status.name, 'RUNNING');
    process.stderr.write(
      `      (restarted at ${mid.canaryPercent}% canary, ${mid.observedMs} ms into stage ${mid.stageIndex + 1})\n`,
    );

    const result = await resultOf(agent);
    assert.equal(result.state, 'promoted', result.reason);
    assert.equal(result.stable, 'v2');
    const split = await router().getSplit(agent);
    assert.deepEqual([split.stable, split.canary, split.canaryWeight], ['v2', null, 0]);
    // Through the gateway, new traffic now all reaches v2.
    const before = t.stats().byVersion.v1?.requests ?? 0;
    await eventually(
      () => t.stats(),
      (s) => (s.byVersion.v2?.requests ?? 0) > 0 && s.sent > 0,
      { what: 'traffic to v2', timeoutMs: 10_000 },
    );
    const sentBefore = t.stats().sent;
    await eventually(
      () => t.stats(),
      (s) => s.sent >= sentBefore + 30,
      { what: '30 more requests', timeoutMs: 20_000 },
    );
    const final = await t.stop();
    assert.ok(
      (final.byVersion.v1?.requests ?? 0) - before <= 3,
      `v1 still served after promotion: ${JSON.stringify(final.byVersion)}`,
    );
    assert.ok(
      final.ok > 0 && final.failures === 0,
      `${JSON.stringify(final)}\n${gateways.map((g, i) => `gw${i + 1}: ${g.output().slice(-1500)}`).join('\n')}`,
    );
    // The judge saw task success and quality: every answer's feedback was joined, whichever
    // replica HAProxy sent the request and its feedback to.
    assert.ok(final.feedbackSent > 0 && final.feedbackFailed === 0, JSON.stringify(final));
    // Both replicas served traffic and both route by the promoted split.
    for (const port of gatewayPorts) {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const served = [
        ...text.matchAll(/^agent_canary_requests_total\{agent="pg-support-bot"[^}]*\} (\d+)/gm),
      ];
      assert.ok(served.reduce((n, m) => n + Number(m[1]), 0) > 0, `replica on ${port} served none of it`);
      const own = await new GatewayRouter({ url: `http://127.0.0.1:${port}`, token: TOKEN }).getSplit(agent);
      assert.deepEqual([own.stable, own.canary], ['v2', null], `replica on ${port}`);
    }
  });

  it('rolls a degraded canary back, and the gateway serves stable only', async function () {
    const agent = AGENTS.rolledBack;
    const t = sendTraffic(agent);
    await startRollout(client, demoPlan(agent, { observeMs: 10_000, intervalMs: 1000 }));
    const result = await resultOf(agent);
    assert.equal(result.state, 'rolled_back', result.reason);
    assert.equal(result.stable, 'v1');
    const split = await router().getSplit(agent);
    assert.deepEqual([split.stable, split.canary, split.canaryWeight], ['v1', null, 0]);
    // Requests sent from here on all reach v1.
    const v2Before = t.stats().byVersion.v2?.requests ?? 0;
    const sentBefore = t.stats().sent;
    await eventually(
      () => t.stats(),
      (s) => s.sent >= sentBefore + 30,
      { what: '30 more requests', timeoutMs: 20_000 },
    );
    const final = await t.stop();
    assert.ok(
      (final.byVersion.v2?.requests ?? 0) - v2Before <= 3,
      `v2 still served after rollback: ${JSON.stringify(final.byVersion)}`,
    );
  });

  it('the rollouts are listed from PostgreSQL visibility by their search attributes', async function () {
    const seen = new Map<string, string>();
    await eventually(
      async () => {
        seen.clear();
        for await (const w of client.workflow.list({
          // A rollout's runs that continued as new (every 150 events) are listed too: its last run is the one.
          query: `CanaryAgent IN ('${AGENTS.promoted}', '${AGENTS.rolledBack}') AND ExecutionStatus != 'ContinuedAsNew'`,
        })) {
          seen.set(w.workflowId, String(w.typedSearchAttributes.get(SA.state)));
        }
        return seen;
      },
      (s) => s.size === 2,
      { what: 'both rollouts in visibility', timeoutMs: 20_000 },
    );
    assert.equal(seen.get(workflowIdFor(AGENTS.promoted)), 'promoted');
    assert.equal(seen.get(workflowIdFor(AGENTS.rolledBack)), 'rolled_back');
  });

  it("the compose jobs' scripts set up a new PostgreSQL and a new namespace outside containers", async function () {
    const binaries = await findServerBinaries({ noBuild: true, log: () => {} });
    const temporalCli = await findTemporalCli({ noBuild: true, log: () => {} });
    const pg = await startPostgres({ dataDir: path.join(stateDir, 'pg-compose'), log: () => {} });
    try {
      const schemaEnv = {
        PATH: `${path.dirname(binaries.sqlTool)}:${process.env.PATH}`,
        POSTGRES_SEEDS: pg.host,
        DB_PORT: String(pg.port),
        POSTGRES_USER: pg.user,
        SQL_PASSWORD: pg.password,
      };
      const script = path.join(ROOT, 'deploy', 'temporal-schema.sh');
      await runTool('sh', [script], { env: schemaEnv, timeoutMs: 120_000 });
      await runTool('sh', [script], { env: schemaEnv, timeoutMs: 120_000 }); // again: a no-op
      // The same schema versions as the database the server of this test runs on.
      const psql = await findPostgresBin('psql');
      const version = (db: string, port: number) =>
        runTool(psql, [
          '-h',
          '127.0.0.1',
          '-p',
          String(port),
          '-U',
          'postgres',
          '-d',
          db,
          '-Atc',
          'SELECT curr_version FROM schema_version',
        ]);
      for (const db of ['temporal', 'temporal_visibility']) {
        const fresh = await version(db, pg.port);
        assert.match(fresh, /^\d+\.\d+$/);
        assert.equal(fresh, await version(db, stack.postgres.port), db);
      }
    } finally {
      await pg.stop();
    }

    const namespace = `compose-${Date.now().toString(36)}`;
    const nsEnv = {
      PATH: `${path.dirname(temporalCli)}:${process.env.PATH}`,
      // A config folder without a Temporal CLI profile of the developer's.
      HOME: stateDir,
      XDG_CONFIG_HOME: path.join(stateDir, 'no-config'),
      TEMPORAL_ADDRESS: stack.address,
      TEMPORAL_NAMESPACE: namespace,
      NAMESPACE_RETENTION: '1d',
    };
    const nsScript = path.join(ROOT, 'deploy', 'temporal-namespace.sh');
    await runTool('sh', [nsScript], { env: nsEnv, timeoutMs: 180_000 });
    await runTool('sh', [nsScript], { env: nsEnv, timeoutMs: 60_000 }); // again: a no-op
    const listed = await connection.operatorService.listSearchAttributes({ namespace });
    for (const key of Object.values(SA))
      assert.equal(
        listed.customAttributes?.[key.name],
        encodeSearchAttributeIndexedValueType(key.type),
        key.name,
      );
  });
});
