// docs/getting-started.md really works: its tiny agent (examples/tiny-agent.mjs, two and then three
// versions as processes), its gateway config, the curl commands copied from the doc and run by bash,
// its traffic script, `validate` on its plan, and both of its rollouts (promoted, then a broken
// canary rolled back) on the suite's dev server. Only the plan's windows are shortened (1 min -> 4 s).
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadGatewayConfig, startGateway, type RunningGateway } from '../src/gateway';
import { GatewayMetricsSource } from '../src/metrics/gateway';
import { createNotifiers } from '../src/notify';
import { parsePlan, ResolvedPlanSchema, type ResolvedPlan } from '../src/plan';
import { GatewayRouter } from '../src/router/gateway';
import { startRollout } from '../src/temporal/rollouts';
import { cli } from './cli-support';
import { startWorker, testEnv, uniqueName, type RunningWorker } from './harness';

const ROOT = join(__dirname, '..');
const DOC = readFileSync(join(ROOT, 'docs', 'getting-started.md'), 'utf8');
const DOC_GATEWAY = 'http://127.0.0.1:8080';
const sh = promisify(execFile);

/** The doc's shell lines that start with `word` (its code blocks hold one command a line). */
function docCommands(word: string): string[] {
  const blocks = [...DOC.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
  return blocks.flatMap((b) => b.split('\n')).filter((l) => l.startsWith(`${word} `));
}

/** Runs a command of the doc with bash, against this test's gateway instead of port 8080. */
async function runDocCommand(line: string, gatewayUrl: string, vars: Record<string, string> = {}) {
  let command = line.replaceAll(DOC_GATEWAY, gatewayUrl);
  for (const [k, v] of Object.entries(vars)) command = command.replaceAll(k, v);
  const { stdout } = await sh('bash', ['-c', command], { cwd: ROOT, timeout: 20_000 });
  return stdout;
}

/** examples/tiny-agent.mjs as the doc runs it, on a free port (PORT=0), until the test ends. */
async function tinyAgent(env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [join(ROOT, 'examples', 'tiny-agent.mjs')], {
    env: { PATH: process.env.PATH ?? '', ...env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`tiny-agent exited with ${code}: ${out}`)));
  });
  return { url, child };
}

/** The doc's plan with its windows shortened, so a rollout takes seconds here. */
function quick(plan: ResolvedPlan): ResolvedPlan {
  return ResolvedPlanSchema.parse({
    ...plan,
    stages: plan.stages.map((s) => ({ ...s, observeMs: s.observeMs > 0 ? 4_000 : 0 })),
    analysis: { ...plan.analysis, intervalMs: 1_000 },
  });
}

describe('docs/getting-started.md, command by command', function () {
  this.timeout(300_000);
  const children: ChildProcess[] = [];
  let gateway: RunningGateway | undefined;
  let worker: RunningWorker | undefined;
  let agents: Record<string, string> = {};
  const taskQueue = uniqueName('getting-started');

  before(async () => {
    for (const [version, extra] of [
      ['v1', {}],
      ['v2', {}],
      ['v3', { ERROR_RATE: '0.3' }],
    ] as const) {
      const a = await tinyAgent({ VERSION: version, ...extra });
      children.push(a.child);
      agents = { ...agents, [version]: a.url };
    }
    // The doc's gateway config, pointed at this test's ports.
    const dir = mkdtempSync(join(tmpdir(), 'getting-started-'));
    const config = readFileSync(join(ROOT, 'examples', 'tiny-gateway.yaml'), 'utf8')
      .replace('http://127.0.0.1:9101', agents.v1)
      .replace('http://127.0.0.1:9102', agents.v2)
      .replace('http://127.0.0.1:9103', agents.v3);
    writeFileSync(join(dir, 'gateway.yaml'), config);
    const adminToken = randomBytes(18).toString('base64url');
    gateway = await startGateway({
      host: '127.0.0.1',
      adminToken,
      ingestToken: null, // as `agent-canary dev`
      config: loadGatewayConfig(join(dir, 'gateway.yaml')),
    });
    worker = await startWorker(
      {
        router: new GatewayRouter({ url: gateway.url, token: adminToken }),
        metrics: new GatewayMetricsSource({ url: gateway.url, token: adminToken }),
        notifiers: () => createNotifiers([]),
      },
      { taskQueue },
    );
  });

  after(async () => {
    await worker?.stop();
    await gateway?.close();
    for (const c of children) c.kill('SIGTERM');
  });

  it('the curl call answers from v1 with the version and request id headers, and the feedback joins it', async () => {
    const [invoke, feedback] = docCommands('curl');
    assert.ok(invoke?.includes('/v1/agents/tiny-bot/invoke') && feedback?.includes('/v1/feedback'));
    const answer = await runDocCommand(invoke, gateway!.url);
    assert.match(answer, /^HTTP\/1\.1 200/);
    assert.match(answer, /^x-agent-version: v1\r?$/m);
    const requestId = /^x-request-id: (\S+)\r?$/m.exec(answer)?.[1];
    assert.ok(requestId, answer);
    assert.match(answer, /"answer":"\(v1\) you asked: what is a canary\?"/);

    const joined = JSON.parse(await runDocCommand(feedback, gateway!.url, { REQUEST_ID: requestId })) as {
      requestId: string;
      agent: string;
      version: string;
    };
    assert.deepEqual(joined, { requestId, agent: 'tiny-bot', version: 'v1' });
  });

  it('validate accepts the plan as the doc runs it', async () => {
    const [validate] = docCommands('agent-canary validate');
    const r = await cli(validate.split(' ').slice(1));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /tiny-bot: v1 \(stable\) -> v2 \(canary\)/);
  });

  it('the first rollout under the traffic script is promoted; the broken v3 of step 8 is rolled back', async () => {
    const [traffic] = docCommands('node examples/tiny-traffic.mjs');
    assert.ok(traffic, 'the doc runs the traffic script');
    const client = testEnv().client;
    const running = spawn(
      'bash',
      ['-c', traffic.replaceAll(DOC_GATEWAY, gateway!.url).replace(/ 20(\s|$)/, ' 50$1')],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', DURATION_S: '900' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    children.push(running);
    let trafficOut = '';
    running.stdout!.on('data', (d: Buffer) => (trafficOut += d.toString()));

    const first = await startRollout(
      client,
      quick(parsePlan(readFileSync(join(ROOT, 'examples', 'tiny-plan.yaml'), 'utf8'))),
      {
        taskQueue,
      },
    );
    const promoted = await first.result();
    assert.equal(promoted.state, 'promoted', promoted.reason);
    assert.equal(promoted.stable, 'v2');

    // Step 8: the doc's sed line turns the plan into v2 -> v3.
    const sed = docCommands('sed')[0]?.split(' | ')[0];
    assert.ok(sed, 'the doc pipes the plan through sed');
    const { stdout: v3PlanText } = await sh('bash', ['-c', sed], { cwd: ROOT });
    const v3Plan = parsePlan(v3PlanText);
    assert.equal(v3Plan.stable, 'v2');
    assert.equal(v3Plan.canary, 'v3');
    const second = await startRollout(client, quick(v3Plan), { taskQueue });
    const rolledBack = await second.result();
    assert.equal(rolledBack.state, 'rolled_back', rolledBack.reason);
    assert.equal(rolledBack.stable, 'v2');
    assert.match(rolledBack.reason, /error_rate/);
    assert.match(trafficOut, /sent \d+: \{.*"v2":\{"ok":\d+/, 'the traffic script reports per version');
    running.kill('SIGINT');
  });
});
