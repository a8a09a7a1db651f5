// The Kubernetes parts of the command line that need no cluster: the worker's help names the
// kubernetes router with its settings and the metrics sources; `export flagger` refuses bad flags
// (exit 2, naming the flag) before it writes anything.
import assert from 'node:assert/strict';
import { cli, planFile } from './cli-support';

describe('command line: kubernetes router help and export flagger flags', function () {
  this.timeout(30_000);

  it('agent-canary worker --help lists the kubernetes router, its settings and defaults', async () => {
    const res = await cli(['worker', '--help']);
    assert.equal(res.code, 0, res.stderr);
    for (const flag of [
      '--kubeconfig',
      '--kube-context',
      '--kube-namespace',
      '--kube-route',
      '--kube-backend',
    ]) {
      assert.ok(res.stdout.includes(flag), `${flag} missing from worker --help`);
    }
    assert.match(
      res.stdout,
      /kubernetes {2}the stable and canary backendRef weights of a Gateway API HTTPRoute/,
    );
    assert.match(res.stdout, /--kube-route +route name, default "\{agent\}"/);
    assert.match(res.stdout, /get, list and patch on httproutes/);
    assert.match(res.stdout, /prometheus-query .*analysis\.custom/s);
  });

  it('export flagger refuses bad flags naming them, writing no manifest', async () => {
    const file = planFile({ agent: 'support-bot', stable: 'v1', canary: 'v2' });
    const cases: [string[], RegExp][] = [
      [['--namespace', 'Not_A_NS'], /--namespace "Not_A_NS": must be a Kubernetes namespace name/],
      [['--target', 'Bad/Name'], /--target "Bad\/Name": must be a Kubernetes object name/],
      [['--port', '70000'], /--port "70000": must be a port number from 1 to 65535/],
      [['--gateway', 'a/b/c'], /--gateway "a\/b\/c": use name or namespace\/name/],
    ];
    for (const [flags, message] of cases) {
      const res = await cli(['export', 'flagger', '-f', file, ...flags]);
      assert.equal(res.code, 2, `${flags.join(' ')}: ${res.stderr}`);
      assert.equal(res.stdout, '');
      assert.match(res.stderr, message);
    }
    const missing = await cli(['export', 'flagger', '-f', '/nonexistent/plan.yaml']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read plan file "\/nonexistent\/plan\.yaml": no such file/);
  });
});
