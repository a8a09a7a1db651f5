// What the CLI says to a newcomer in the hour after the demo (issue 27), each message checked as the
// user meets it: plan durations without a unit, typos in plan keys, short windows, the tokens `dev`
// keeps, a data dir that is a file, the SDK's log lines, the next step `dev` suggests, "why is it
// waiting" in `status`, the preflight line for an unknown agent and the dashboard's token refusals.
// Pure modules where the message is made; the real CLI, gateway and dashboard where it is shown.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { holdingOf, holdingText } from '../src/analysis/holding';
import { startHint } from '../src/cli/dev-output';
import { ensureDataDir, keptToken } from '../src/cli/dev-token';
import { renderStatus } from '../src/cli/render';
import { sdkLogLevel, sdkLogLine } from '../src/cli/sdk-log';
import { loadGatewayConfig } from '../src/gateway';
import { parsePlan, PlanError, formatDuration } from '../src/plan';
import { GatewayRouter } from '../src/router/gateway';
import { startDashboard } from '../src/ui/server';
import type { RolloutStatus } from '../workflows/messages';
import { cli, planFile } from './cli-support';
import { TOKEN, gateway, startUpstream, twoVersionConfig } from './gateway-support';
import { testEnv } from './harness';

const ROOT = path.join(__dirname, '..');
const sh = promisify(execFile);
const base = 'agent: bot\nstable: v1\ncanary: v2\n';

function problems(text: string): string[] {
  try {
    parsePlan(text);
  } catch (err) {
    if (err instanceof PlanError) return err.problems.map((p) => `${p.field}: ${p.message}`);
    throw err;
  }
  assert.fail('the plan was accepted');
}

describe('CLI messages a newcomer meets', () => {
  describe('plan files', () => {
    it('refuse a duration without a unit, naming the field and the units', () => {
      const lines = problems(
        `${base}stages: [{weight: 20, observe: 2}, {weight: 100}]\nprogressDeadline: "90"\n`,
      );
      assert.deepEqual(lines, [
        'stages.0.observe: "2" has no unit: write "2s" for seconds, "2m" for minutes or "2ms" (a bare number meant milliseconds)',
        'progressDeadline: "90" has no unit: write "90s" for seconds, "90m" for minutes or "90ms" (a bare number meant milliseconds)',
      ]);
    });

    it('answer a typo in a key with the key meant, at its place in the plan', () => {
      const lines = problems(`${base}stages: [{weight: 20, obsreve: 1m}, {weight: 100}]\nanalyis: {}\n`);
      assert.ok(
        lines.includes('stages.0: Unrecognized key: "obsreve": did you mean "observe"?'),
        lines.join('\n'),
      );
      assert.ok(lines.includes(': Unrecognized key: "analyis": did you mean "analysis"?'), lines.join('\n'));
      // Nothing close: no guess.
      assert.ok(problems(`${base}zzzzzz: 1\n`).includes(': Unrecognized key: "zzzzzz"'));
    });

    it('validate exits 2 on a unitless duration and warns of a window shorter than the interval', async () => {
      const bad = await cli([
        'validate',
        '-f',
        planFile(`${base}stages: [{weight: 20, observe: 2}, {weight: 100}]\n`),
      ]);
      assert.equal(bad.code, 2, bad.stderr);
      assert.match(bad.stderr, /stages\.0\.observe: "2" has no unit/);
      const short = await cli([
        'validate',
        '-f',
        planFile(`${base}stages: [{weight: 20, observe: 5s}, {weight: 100}]\nanalysis: {interval: 10s}\n`),
      ]);
      assert.equal(short.code, 0, short.stderr);
      assert.match(
        short.stdout,
        /warning: stage 1 observes 5s, less than the check interval \(10s\): it is decided on one check/,
      );
    });
  });

  describe('agent-canary dev', () => {
    it('keeps its tokens in the data dir across restarts, readable by the owner only', () => {
      const dir = path.join(mkdtempSync(path.join(tmpdir(), 'agent-canary-dev-')), 'dev');
      ensureDataDir(dir);
      const first = keptToken(dir, 'dashboard-token');
      assert.match(first, /^[A-Za-z0-9_-]{24}$/);
      assert.equal(keptToken(dir, 'dashboard-token'), first, 'the same token after a restart');
      assert.equal(statSync(path.join(dir, 'dashboard-token')).mode & 0o777, 0o600);
      // A file edited into something that is not a token is replaced, not used.
      writeFileSync(path.join(dir, 'dashboard-token'), 'short\n');
      const next = keptToken(dir, 'dashboard-token');
      assert.notEqual(next, 'short');
      assert.equal(readFileSync(path.join(dir, 'dashboard-token'), 'utf8'), `${next}\n`);
    });

    it('refuses a data dir that is a file with the flag and a fix', async () => {
      const file = path.join(mkdtempSync(path.join(tmpdir(), 'agent-canary-dev-')), 'not-a-dir');
      writeFileSync(file, 'x');
      assert.throws(
        () => ensureDataDir(file),
        /--data-dir .*not-a-dir is a file, not a directory\n {2}Fix: /,
      );
      const r = await cli(['dev', '--data-dir', file, '--gateway-config', 'examples/tiny-gateway.yaml']);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /is a file, not a directory/);
      assert.doesNotMatch(r.stderr, /unexpected error/);
    });

    it('suggests a plan that exists for the configured agent, or how to write one', () => {
      const tiny = loadGatewayConfig(path.join(ROOT, 'examples', 'tiny-gateway.yaml'));
      const hint = startHint(tiny, path.join(ROOT, 'examples', 'tiny-gateway.yaml'), '127.0.0.1:7233');
      assert.match(hint, /agent-canary start -f .*examples\/tiny-plan\.yaml {3}\(a plan for tiny-bot\)$/);
      assert.doesNotMatch(hint, /TEMPORAL_ADDRESS/, 'the default address needs no export');
      const dir = mkdtempSync(path.join(tmpdir(), 'agent-canary-cfg-'));
      const own = path.join(dir, 'gateway.yaml');
      writeFileSync(own, 'agents:\n  my-bot:\n    stable: v1\n    versions: { v1: "http://127.0.0.1:9" }\n');
      const none = startHint(loadGatewayConfig(own), own, '127.0.0.1:7299');
      assert.match(none, /^Next: write a plan for my-bot \(examples\/plan\.yaml is one/);
      assert.match(none, /export TEMPORAL_ADDRESS=127\.0\.0\.1:7299; agent-canary start -f <your plan>$/);
    });
  });

  describe('Temporal SDK log lines', () => {
    it('come one line each, metadata only at debug, at the level AGENT_CANARY_LOG_LEVEL asks', () => {
      const meta = { taskToken: 'Q2lT...', error: { message: 'x\ny' } };
      assert.equal(sdkLogLine('WARN', 'Workflow failed', meta), 'temporal WARN: Workflow failed');
      assert.match(
        sdkLogLine('DEBUG', 'Workflow failed', meta),
        /^temporal DEBUG: Workflow failed \{.*taskToken/,
      );
      const hostile = sdkLogLine('DEBUG', 'a\nb\u001b[31m', meta);
      assert.ok(!hostile.includes('\n') && !hostile.includes('\u001b'), hostile);
      assert.equal(sdkLogLevel('ERROR', {}), 'ERROR');
      assert.equal(sdkLogLevel('ERROR', { AGENT_CANARY_LOG_LEVEL: 'debug' }), 'DEBUG');
      assert.throws(
        () => sdkLogLevel('ERROR', { AGENT_CANARY_LOG_LEVEL: 'loud' }),
        /AGENT_CANARY_LOG_LEVEL must be one of trace, debug, info, warn, error, got "loud"/,
      );
    });
  });

  describe('status: why is it waiting', () => {
    const now = Date.parse('2026-12-05T10:10:00Z');
    const status = (over: Partial<RolloutStatus> = {}): RolloutStatus =>
      ({
        asOf: '2026-12-05T10:10:00Z',
        workflowId: 'canary-bot',
        agent: 'bot',
        stable: 'v1',
        canary: 'v2',
        state: 'progressing',
        stageIndex: 0,
        stageCount: 3,
        canaryPercent: 20,
        stages: [
          { weight: 20, observeMs: 60_000 },
          { weight: 50, observeMs: 60_000 },
          { weight: 100, observeMs: 0 },
        ],
        stageStartedAt: '2026-12-05T10:08:00Z',
        observedMs: 60_000,
        remainingMs: 0,
        startedAt: '2026-12-05T10:08:00Z',
        deadlineAt: '2026-12-05T16:08:00Z',
        failedChecks: 0,
        failureLimit: 1,
        inconclusiveStreak: 12,
        lastAnalysis: {
          verdict: 'inconclusive',
          judge: 'statistical',
          reason: '',
          at: '2026-12-05T10:10:00Z',
          windowStart: '2026-12-05T10:08:00Z',
          failedChecks: 0,
          inconclusiveStreak: 12,
          metrics: [
            {
              metric: 'error_rate',
              stable: 0.01,
              canary: 0.01,
              stableSamples: 2000,
              canarySamples: 500,
              status: 'pass',
              reason: 'error_rate: not worse',
            },
            {
              metric: 'p99_latency_ms',
              stable: 200,
              canary: 272,
              stableSamples: 2600,
              canarySamples: 665,
              status: 'inconclusive',
              reason: 'p99_latency_ms: not yet: canary +36%; ruling out +100% p99',
              // Stage 1, with one observed stage after it, passes at 2x minEffect (EFFECT_GRID index
              // 1): a third of the evidence it needs.
              stats: { llr: [0, Math.log(0.05) / 3, 0, 0], detail: '' },
            },
          ],
        },
        decisions: [],
        notifyFailures: [],
        ...over,
      }) as RolloutStatus;

    it('names the metric that holds the stage and how long it should take to decide', () => {
      const h = holdingOf(status(), now);
      assert.equal(h?.metric, 'p99_latency_ms');
      // 2 minutes gave a third of the evidence: about 4 more at the same traffic.
      assert.equal(h?.forecastMs, 240_000);
      assert.equal(
        holdingText(status(), h!, formatDuration),
        'stage 1 of 3 is waiting on p99 latency: not yet: canary +36%; ruling out +100% p99; decided in about 4m at the traffic so far',
      );
      assert.match(renderStatus(status(), { now }), /\nstage 1 of 3 is waiting on p99 latency: .*about 4m/);
    });

    it('calls a rollback before the canary got any traffic a failed start', () => {
      const refused = status({
        state: 'rolled_back',
        lastAnalysis: null,
        decisions: [
          {
            at: '2026-12-05T10:08:00Z',
            action: 'started',
            by: 'agent-canary',
            reason: 'rollout started',
            stageIndex: 0,
            percent: 0,
          },
          {
            at: '2026-12-05T10:08:01Z',
            action: 'rolled_back',
            by: 'agent-canary',
            reason: 'the router refused the split: unknown agent',
            stageIndex: 0,
            percent: 0,
          },
        ],
      });
      assert.match(
        renderStatus(refused, { now }),
        /^bot {2}v1 -> v2 {2}FAILED TO START \(the canary never got traffic/,
      );
      const judged = status({
        state: 'rolled_back',
        decisions: [
          {
            at: '2026-12-05T10:08:01Z',
            action: 'stage_started',
            by: 'agent-canary',
            reason: 'stage 1: 20%',
            stageIndex: 0,
            percent: 20,
          },
          ...refused.decisions.slice(1),
        ],
      });
      assert.match(renderStatus(judged, { now }), /^bot {2}v1 -> v2 {2}ROLLED BACK {2}/);
    });

    it('gives no estimate when the data lean towards worse, and nothing once the stage passed', () => {
      const worse = status();
      worse.lastAnalysis!.metrics[1].stats = { llr: [0, 2, 0, 0], detail: '' };
      const h = holdingOf(worse, now)!;
      assert.equal(h.forecastMs, null);
      assert.match(
        holdingText(worse, h, formatDuration),
        /no estimate yet: the data so far do not lean towards healthy$/,
      );
      const passed = status({ lastAnalysis: { ...status().lastAnalysis!, verdict: 'pass' } });
      assert.equal(holdingOf(passed, now)?.metric, null);
      assert.doesNotMatch(renderStatus(passed, { now }), /waiting on/);
    });
  });

  describe('small refusals', () => {
    it('refuse an empty port and a worker URL that is not http(s), before connecting to anything', async () => {
      const gw = await cli([
        'gateway',
        '--port',
        '',
        '--config',
        'examples/tiny-gateway.yaml',
        '--token',
        'x'.repeat(24),
      ]);
      assert.equal(gw.code, 2, gw.stderr);
      assert.match(gw.stderr, /--port must be a port number 0-65535, got ""/);
      const worker = await cli(
        ['worker', '--router', 'webhook', '--router-url', 'file:///x', '--router-secret', 's'.repeat(24)],
        // Nothing listens on port 1: a check made after connecting would report Temporal instead.
        {
          env: {
            TEMPORAL_ADDRESS: '127.0.0.1:1',
            AGENT_CANARY_GATEWAY_URL: 'http://127.0.0.1:1',
            AGENT_CANARY_ADMIN_TOKEN: 't'.repeat(24),
          },
        },
      );
      assert.equal(worker.code, 2, worker.stderr);
      assert.match(worker.stderr, /routerUrl: must be http:\/\/ or https:\/\/, not file:/);
      assert.doesNotMatch(worker.stderr, /Temporal/);
    });

    it('answer an 8 MB chunked admin body with 413, to a client that reads only after sending', async () => {
      const v1 = await startUpstream('v1');
      const v2 = await startUpstream('v2');
      const gw = await gateway({ config: twoVersionConfig(v1, v2) });
      try {
        // Python's http.client sends the whole body before it reads the answer.
        const script = [
          'import http.client, sys',
          'u = sys.argv[1].split(":")',
          'c = http.client.HTTPConnection(u[0], int(u[1]), timeout=30)',
          'body = (b"a" * 100000 for _ in range(80))',
          `c.request("PUT", "/v1/admin/agents/bot/split", body=body, encode_chunked=True, headers={"authorization": "Bearer ${TOKEN}", "content-type": "application/json", "transfer-encoding": "chunked"})`,
          'r = c.getresponse()',
          'print(r.status, r.read().decode())',
        ].join('\n');
        const { stdout } = await sh('python3', ['-c', script, new URL(gw.url).host], { timeout: 30_000 });
        assert.equal(stdout.trim(), `413 {"error":"body larger than ${1 << 20} bytes"}`);
        const res = await fetch(`${gw.url}/v1/agents/bot/outcomes`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ version: 'v'.repeat(200) }),
        });
        assert.equal(res.status, 400);
        assert.match(
          ((await res.json()) as { error: string }).error,
          /version: must be at most 128 characters/,
        );
      } finally {
        await gw.close();
        await v1.close();
        await v2.close();
      }
    });
  });

  describe('preflight and the dashboard token', () => {
    it('names the configured agents once when the agent is unknown', async () => {
      const v1 = await startUpstream('v1');
      const v2 = await startUpstream('v2');
      const gw = await gateway({ config: twoVersionConfig(v1, v2) });
      try {
        const lines = await new GatewayRouter({ url: gw.url, token: TOKEN }).preflight('nope', {
          stable: 'v1',
          canary: 'v2',
        });
        assert.deepEqual(lines, [`gateway ${gw.url} has no agent "nope" in its config (configured: bot)`]);
      } finally {
        await gw.close();
        await v1.close();
        await v2.close();
      }
    });

    it('refuses a missing or stale token saying where the right one is', async () => {
      const hint =
        'open the dashboard link `agent-canary dev` printed, or paste the token kept in x/dashboard-token';
      const d = await startDashboard({
        client: testEnv().client,
        token: 'right-token-1234567890',
        tokenHint: hint,
      });
      try {
        const press = (auth?: string) =>
          fetch(`${d.url}/api/rollouts/canary-bot/pause`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
            body: '{}',
          });
        const stale = await press('Bearer an-old-token-from-yesterday');
        assert.equal(stale.status, 401);
        assert.deepEqual(await stale.json(), {
          error: `this browser holds a token of another dashboard (or of an earlier start of this one): ${hint}`,
          token: 'wrong',
        });
        const missing = await press();
        assert.equal(
          ((await missing.json()) as { error: string }).error,
          `commands need the dashboard token: ${hint}`,
        );
      } finally {
        await d.close();
      }
    });
  });
});
