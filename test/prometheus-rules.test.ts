// The Prometheus alerting rules shipped in deploy/prometheus (and the Helm chart's PrometheusRule),
// checked by Prometheus' own promtool: valid rules, and unit tests that fire each alert on series
// shaped like the worker's (a rollback, a paused rollout, checks that stopped arriving).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { requirePrerequisites } from './support/prerequisites';

const DIR = join(__dirname, '..', 'deploy', 'prometheus');

describe('Prometheus rules (promtool)', () => {
  before(function () {
    requirePrerequisites(this, 'promtool');
  });

  const promtool = (...args: string[]) => {
    const r = spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, `promtool ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
    return r.stdout;
  };

  it('the rules file is valid', () => {
    assert.match(promtool('check', 'rules', 'agent-canary-rules.yaml'), /SUCCESS: 4 rules found/);
  });

  it('each alert fires when it should and not before (promtool test rules)', () => {
    assert.match(promtool('test', 'rules', 'agent-canary-rules.test.yaml'), /SUCCESS/);
  });
});
