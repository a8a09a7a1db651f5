// validate --rps tells the truth per stage, warns with a fix, and --strict exits 1. No server needed.
import assert from 'node:assert/strict';
import { cli, planFile } from './cli-support';

const PLAN = 'agent: support-bot\nstable: v1\ncanary: v2\n';

describe('validate --rps: per-stage forecast', function () {
  this.timeout(60_000);

  it('at 1 request/s: what each stage rules out, how long it needs, a warning; --strict exits 1', async () => {
    const file = planFile(PLAN);
    const r = await cli(['validate', '-f', file, '--rps', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /at 1 request\/s, what each stage must rule out/);
    assert.match(
      r.stdout,
      /1\s+5%\s+30m\s+error_rate\s+\+4 points of errors\s+~\d+m \(longer than the window\)/,
    );
    assert.match(r.stdout, /3\s+50%\s+2h\s+error_rate\s+\+1 point of errors/);
    assert.match(r.stdout, /warning: stage 1 cannot rule out \+4 points of errors in 30m at 1 request\/s/);
    // The columns line up: every metric name starts in the same column.
    const table = r.stdout.slice(r.stdout.indexOf('what each stage must rule out'));
    const rows = table
      .split('\n')
      .filter((l) => /(error_rate|p99_latency_ms|task_success_rate|quality_score)\s+[-+]/.test(l));
    assert.equal(rows.length, 12);
    assert.equal(
      new Set(rows.map((l) => l.search(/(error_rate|p99_latency_ms|task_success_rate|quality_score)/))).size,
      1,
    );
    assert.equal(new Set(rows.map((l) => l.search(/[-+]\d/))).size, 1);

    const strict = await cli(['validate', '-f', file, '--rps', '1', '--strict']);
    assert.equal(strict.code, 1);
    assert.match(strict.stderr, /--strict: 1 warning at 1 requests\/s/);
  });

  it('at 100 requests/s no warning, and --strict passes; --json carries the forecast', async () => {
    const file = planFile(PLAN);
    const r = await cli(['validate', '-f', file, '--rps', '100', '--strict']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /warning:/);
    const j = await cli(['validate', '-f', file, '--rps', '100', '--json']);
    const out = JSON.parse(j.stdout);
    assert.deepEqual(out.forecast.warnings, []);
    assert.equal(out.forecast.stages.length, 3);
  });
});
