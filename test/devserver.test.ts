// No orphan Temporal servers: not when the parent dies, not after Ctrl-C on `agent-canary dev`.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { promises as fs, readFileSync } from 'node:fs';
import { cli, planFile } from './cli-support';
import { eventually } from './harness';

const ROOT = path.join(__dirname, '..');
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('dev server lifecycle', function () {
  this.timeout(90_000);

  it('the server dies with its parent, even when the parent is SIGKILLed', async function () {
    const script = `require('./bin/register.js');
      require('./src/temporal/devserver').startDevServer({ ui: false, log: () => {} })
        .then((s) => { process.stdout.write(JSON.stringify({ pid: s.pid }) + '\\n'); setInterval(() => {}, 1000); });`;
    const parent = spawn(process.execPath, ['-e', script], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [chunk] = (await once(parent.stdout!, 'data')) as [Buffer];
    const { pid } = JSON.parse(chunk.toString()) as { pid: number };
    assert.ok(alive(pid), 'server running');
    parent.kill('SIGKILL');
    await eventually(
      () => alive(pid),
      (a) => !a,
      { what: 'the orphaned server to be reaped', timeoutMs: 15_000 },
    );
  });

  it('`agent-canary dev` stops its server on Ctrl-C', async function () {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'dev-'));
    const dev = spawn(
      process.execPath,
      [
        path.join(ROOT, 'bin', 'agent-canary.js'),
        'dev',
        '--port',
        '0',
        '--ui-port',
        '0',
        '--gateway-port',
        '0',
        '--dashboard-port',
        '0',
        '--data-dir',
        dataDir,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    dev.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    dev.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await eventually(
      () => out,
      (o) => /Temporal Web UI: http:\/\/127\.0\.0\.1:\d+/.test(o) && /polling task queue/.test(o),
      {
        what: 'dev to come up',
        timeoutMs: 60_000,
      },
    );
    // Each rollout event is one line on dev's terminal; the SDK's own warnings are not.
    const address = /Temporal: +(127\.0\.0\.1:\d+)/.exec(out)![1];
    const env = { TEMPORAL_ADDRESS: address };
    const plan = planFile({
      agent: 'support-bot',
      stable: 'v1.3.1',
      canary: 'v1.3.2',
      stages: [{ weight: 10, observe: '10m' }, { weight: 100 }],
      analysis: { interval: '1s' },
    });
    // Nothing serves the example's upstreams here: the preflight would say so.
    const started = await cli(['start', '-f', plan, '--no-preflight'], { env });
    assert.equal(started.code, 0, started.stderr);
    const line = (what: RegExp) =>
      eventually(
        () => out.split('\n'),
        (lines) => lines.some((l) => what.test(l)),
        { what: `dev to print ${what}`, timeoutMs: 30_000 },
      );
    await line(/support-bot v1\.3\.1 -> v1\.3\.2: started, 2 stages \(http:/);
    await line(/support-bot v1\.3\.1 -> v1\.3\.2: stage 1 of 2: canary at 10%$/);
    const aborted = await cli(['abort', 'support-bot', '--reason', 'wrong build', '--by', 'bob'], { env });
    assert.equal(aborted.code, 0, aborted.stderr);
    await line(/support-bot v1\.3\.1 -> v1\.3\.2: aborted by bob, all traffic on v1\.3\.1: wrong build$/);
    const startLine = out.split('\n').find((l) => / started, 2 stages /.test(l))!;
    assert.match(
      startLine,
      /\(http:\/\/127\.0\.0\.1:\d+\/rollouts\/canary-support-bot\)$/,
      'a link to its page',
    );
    assert.doesNotMatch(out, /temporal WARN|Workflow failed|"msg":/);

    const serverPids = (await fs.readdir('/proc'))
      .filter((p) => /^\d+$/.test(p))
      .map(Number)
      .filter((pid) => {
        try {
          const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
          return cmd.includes('start-dev') && cmd.includes(dataDir);
        } catch {
          return false;
        }
      });
    assert.equal(serverPids.length, 1, 'one server using the data dir');
    dev.kill('SIGINT');
    const [code] = (await once(dev, 'exit')) as [number];
    assert.equal(code, 0, out);
    assert.match(out, /stopped: dev server, worker, gateway/);
    assert.ok(!alive(serverPids[0]), 'server stopped');
    await fs.rm(dataDir, { recursive: true, force: true });
  });
});
