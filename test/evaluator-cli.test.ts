// docs/getting-started.md step 5b and docs/evaluation.md from the command line: `agent-canary
// evaluator` grades the tiny agent's answers behind a gateway built from the example config, and
// `validate --gateway-config` forecasts at the evaluator's graded rate. No Temporal server needed.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningGateway } from '../src/gateway';
import { parseYaml } from '../src/plan/yaml';
import { cli, cliProcess, planFile, type CliProcess } from './cli-support';
import { TOKEN, gateway } from './gateway-support';
import { eventually } from './harness';

const ROOT = join(__dirname, '..');
const EXAMPLE = join(ROOT, 'examples', 'tiny-gateway-evaluated.yaml');

describe('the local evaluator from the command line', function () {
  this.timeout(60_000);
  let evaluator: CliProcess | undefined;
  let agent: ChildProcess | undefined;
  let gw: RunningGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    agent?.kill('SIGTERM');
    evaluator?.child.kill('SIGTERM');
    await evaluator?.done.catch(() => undefined);
  });

  it('`agent-canary evaluator` grades the tiny agent behind the example config', async () => {
    evaluator = cliProcess(['evaluator', '--port', '0'], { timeoutMs: 50_000 });
    const url = (await eventually(
      () => /local evaluator on (http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(evaluator!.output()),
      (m) => m !== null,
      { what: 'the evaluator to listen', timeoutMs: 30_000 },
    ))![1];
    agent = spawn(process.execPath, [join(ROOT, 'examples', 'tiny-agent.mjs')], {
      env: { ...process.env, VERSION: 'v1', PORT: '0', DELAY_MS: '0' },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let line = '';
    agent.stdout!.on('data', (d: Buffer) => (line += d.toString()));
    const agentUrl = (await eventually(
      () => /listening on (http:\S+)/.exec(line)?.[1],
      (u) => u !== undefined,
      { what: 'the tiny agent' },
    ))!;
    // The example config as written, with this test's ports.
    const config = parseYaml(readFileSync(EXAMPLE, 'utf8')) as {
      agents: { 'tiny-bot': { versions: Record<string, string>; evaluate: { url: string } } };
    };
    const bot = config.agents['tiny-bot'];
    for (const v of Object.keys(bot.versions)) bot.versions[v] = agentUrl;
    bot.evaluate.url = url;
    gw = await gateway({ config });
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${gw.url}/v1/agents/tiny-bot/invoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ question: `what is a canary? (${i})` }),
      });
      assert.equal(res.status, 200);
      await res.text();
    }
    const m = await eventually(
      async () =>
        (await (
          await fetch(`${gw!.url}/v1/admin/agents/tiny-bot/metrics?since=0`, {
            headers: { authorization: `Bearer ${TOKEN}` },
          })
        ).json()) as {
          versions: { v1: { requests: number; quality: { count: number; sum: number } } };
          evaluator: { counts: { sampled: number; recorded: number } };
        },
      (m) => m.evaluator.counts.sampled > 0 && m.evaluator.counts.recorded === m.evaluator.counts.sampled,
      { what: 'the sampled answers graded' },
    );
    // sample 0.5 of 20 answers, every one repeating the question: all graded 1.
    assert.equal(m.versions.v1.quality.sum, m.versions.v1.quality.count);
    assert.ok(m.versions.v1.quality.count >= 2 && m.versions.v1.quality.count <= 18);
  });

  it('`validate --gateway-config` forecasts at the graded rate and names the fix', async () => {
    const plan = planFile('agent: tiny-bot\nstable: v1\ncanary: v2\n');
    const gwFile = join(plan, '..', 'gateway.yaml');
    writeFileSync(
      gwFile,
      readFileSync(EXAMPLE, 'utf8')
        .replace('sample: 0.5', 'sample: 0.01')
        .replace('maxPerMinute: 6000', 'maxPerMinute: 60'),
    );
    const r = await cli(['validate', '-f', plan, '--rps', '10', '--gateway-config', gwFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /quality_score and task_success_rate from the evaluator: 0\.1 graded requests\/s/);
    assert.match(
      r.stdout,
      /at 10 requests\/s with 0\.1 graded\/s .*evaluate more requests \(sample, budget\)/,
    );
    const bad = await cli(['validate', '-f', plan, '--rps', '10', '--gateway-config', plan]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /agents/);
  });
});
