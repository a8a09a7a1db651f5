// The CLI without a Temporal server: plan validation, usage errors, and an unreachable server.
import assert from 'node:assert/strict';
import { cli, closedPort, planFile } from './cli-support';

const GOOD = `
agent: support-bot
stable: v1.3.1
canary: v1.3.2
stages:
  - { weight: 5,  observe: 30m }
  - { weight: 25, observe: 1h }
  - { weight: 50, observe: 2h }
  - { weight: 100 }
analysis: { interval: 1m, failureLimit: 3 }
`;

describe('cli without a server', function () {
  this.timeout(60_000);

  describe('validate', () => {
    it('accepts a good plan and prints the predicted schedule', async () => {
      const r = await cli(['validate', '-f', planFile(GOOD), '--rps', '20']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /valid/);
      // Each stage with its percent, start offset, window and number of checks.
      assert.match(r.stdout, /1\s+5%\s+0\s+30m\s+30/);
      assert.match(r.stdout, /2\s+25%\s+\+30m\s+1h\s+60/);
      assert.match(r.stdout, /3\s+50%\s+\+1h30m\s+2h\s+120/);
      assert.match(r.stdout, /4\s+100%\s+\+3h30m\s+promotion/);
      assert.match(r.stdout, /deadline 6h/);
      assert.match(r.stdout, /rollback after 3 failed checks/);
      assert.match(r.stdout, /at 20 requests\/s, what each stage must rule out before it passes/);
      assert.doesNotMatch(r.stdout, /expected time to catch/, 'the old per-stage prediction is gone');
    });

    it('--json gives the resolved plan, the schedule and detection predictions', async () => {
      const r = await cli(['validate', '-f', planFile(GOOD), '--json', '--rps', '20']);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.valid, true);
      assert.equal(out.plan.agent, 'support-bot');
      assert.deepEqual(
        out.schedule.stages.map((s: { weight: number; checks: number; startsAtMs: number }) => [
          s.weight,
          s.checks,
          s.startsAtMs,
        ]),
        [
          [5, 30, 0],
          [25, 60, 1_800_000],
          [50, 120, 5_400_000],
          [100, 0, 12_600_000],
        ],
      );
      assert.equal(out.schedule.progressDeadlineMs, 6 * 3_600_000);
      // Predictions for the three observed stages; more canary traffic share, less wall time.
      const errorRate = out.schedule.detection.map(
        (d: { metrics: { metric: string; detectMs: number }[] }) =>
          d.metrics.find((m) => m.metric === 'error_rate')!.detectMs,
      );
      assert.equal(errorRate.length, 3);
      assert.ok(errorRate[0] > errorRate[1] && errorRate[1] > errorRate[2], JSON.stringify(errorRate));
    });

    it('--json keeps notification secrets out of the output', async () => {
      const plan = `${GOOD}notify:
  - { type: webhook, url: "https://ops.example/hooks/canary", secret: "s3cret-s3cret-s3cret" }
  - { type: slack, webhookUrl: "https://hooks.slack.com/services/T0/B0/XYZSECRET" }
`;
      const r = await cli(['validate', '-f', planFile(plan), '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /s3cret|XYZSECRET/);
      const out = JSON.parse(r.stdout);
      assert.equal(out.plan.notify[0].url, 'https://ops.example/hooks/canary');
      assert.equal(out.plan.notify[1].webhookUrl, 'https://hooks.slack.com/…');
    });

    it('names every bad field and exits 2', async () => {
      const r = await cli([
        'validate',
        '-f',
        planFile({
          agent: 'support-bot',
          stable: 'v1',
          canary: 'v1',
          stages: [{ weight: 10, observe: '5m' }, { weight: 5, observe: '5m' }, { weight: 90 }],
        }),
      ]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /canary: must differ from stable/);
      assert.match(r.stderr, /stages\.1\.weight: weights must rise strictly/);
      assert.match(r.stderr, /stages\.2\.weight: the last stage must be 100/);
      assert.ok(!/\n\s+at /.test(r.stderr), `no stack trace:\n${r.stderr}`);
    });

    it('--json reports problems with their fields', async () => {
      const r = await cli([
        'validate',
        '--json',
        '-f',
        planFile('agent: x\nstable: v1\ncanary: v2\nanalysis: { interval: 5x }\n'),
      ]);
      assert.equal(r.code, 2);
      const out = JSON.parse(r.stdout);
      assert.equal(out.kind, 'invalid_input');
      assert.deepEqual(
        out.problems.map((p: { field: string }) => p.field),
        ['analysis.interval'],
      );
    });

    it('reports unreadable files and broken YAML as bad input', async () => {
      const missing = await cli(['validate', '-f', '/nonexistent/plan.yaml']);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /cannot read plan file "\/nonexistent\/plan.yaml": no such file/);
      const broken = await cli(['validate', '-f', planFile('agent: [unclosed\n')]);
      assert.equal(broken.code, 2);
      assert.match(broken.stderr, /not valid YAML or JSON/);
    });
  });

  describe('bad usage exits 2', () => {
    const cases: [string, string[], RegExp][] = [
      ['an unknown verb', ['frobnicate'], /unknown command 'frobnicate'/],
      ['an unknown flag', ['list', '--bogus'], /unknown option '--bogus'/],
      ['a missing plan flag', ['start'], /required option '-f, --file <plan>'/],
      ['abort without a reason', ['abort', 'support-bot'], /required option '--reason <text>'/],
      ['a missing agent', ['status'], /missing required argument 'agent'/],
      ['a bad state filter', ['list', '--state', 'weird'], /Allowed choices are progressing, paused/],
      ['a bad agent name', ['status', 'Support Bot'], /agent "Support Bot": use lowercase/],
      [
        'a non-numeric --rps',
        ['validate', '-f', 'x.yaml', '--rps', 'fast'],
        /--rps <n>' argument 'fast' is invalid/,
      ],
      ['a bad address', ['list', '--address', 'localhost'], /"localhost" is not host:port/],
      [
        'a missing TLS file',
        ['list', '--tls-cert', '/nope.pem', '--tls-key', '/nope.key'],
        /--tls-cert file "\/nope.pem"/,
      ],
      ['an unknown profile', ['list', '--profile', 'prod'], /Profile 'prod' not found/],
      // Checked before connecting: the closed port below would otherwise answer first.
      [
        'an empty abort reason',
        ['abort', 'x', '--reason', '', '--address', '127.0.0.1:9'],
        /reason: an abort needs a reason/,
      ],
      [
        'an overlong --by',
        ['pause', 'x', '--by', 'y'.repeat(300), '--address', '127.0.0.1:9'],
        /by: Too big/,
      ],
    ];
    for (const [what, args, message] of cases) {
      it(what, async () => {
        const r = await cli(args);
        assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
        assert.match(r.stderr, message);
        assert.ok(!/\n\s+at /.test(r.stderr), `no stack trace:\n${r.stderr}`);
      });
    }

    it('--help and --version exit 0', async () => {
      const help = await cli(['status', '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /--watch/);
      const version = await cli(['--version']);
      assert.equal(version.code, 0);
      assert.match(version.stdout, /^\d+\.\d+\.\d+/);
    });
  });

  describe('an unreachable server', () => {
    it('fails fast with exit 1, naming the address and the fix', async () => {
      const port = await closedPort();
      for (const args of [
        ['status', 'support-bot'],
        ['list', '--json'],
        ['pause', 'support-bot'],
        ['start', '-f', planFile(GOOD)],
      ]) {
        const r = await cli(args, { env: { TEMPORAL_ADDRESS: `127.0.0.1:${port}` } });
        assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`cannot reach the Temporal server at 127\\.0\\.0\\.1:${port}`));
        assert.match(r.stderr, /agent-canary dev/);
        assert.match(r.stderr, /TEMPORAL_ADDRESS/);
        assert.ok(r.ms < 10_000, `took ${r.ms}ms`);
        assert.ok(!/\n\s+at /.test(r.stderr), `no stack trace:\n${r.stderr}`);
      }
    });

    it('--address overrides TEMPORAL_ADDRESS, and --json reports the kind', async () => {
      const port = await closedPort();
      const r = await cli(['list', '--json', '--address', `127.0.0.1:${port}`], {
        env: { TEMPORAL_ADDRESS: '127.0.0.1:7233' },
      });
      assert.equal(r.code, 1);
      const out = JSON.parse(r.stdout);
      assert.equal(out.kind, 'server_unreachable');
      assert.match(out.error, new RegExp(`127\\.0\\.0\\.1:${port}`));
    });
  });
});
