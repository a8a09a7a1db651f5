// `agent-canary demo` end to end, as CI runs it: a spawned process with short windows and plain
// (non-TTY) output, which must end with one rollout promoted and one rolled back, and exit 0.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { endedAsExpected, type DemoRollout } from '../src/demo/result';
import type { DemoResult } from '../src/demo/run';

const bin = path.join(__dirname, '..', 'bin', 'agent-canary.js');

function run(
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    // SIGINT lets the demo tear its stack down (dev server included) instead of orphaning it.
    const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('agent-canary demo', () => {
  it('promotes the healthy canary and rolls back the regressed one, then exits 0', async function () {
    this.timeout(420_000);
    const r = await run(
      [
        'demo',
        '--headless',
        '--no-ui',
        '--observe',
        '6s',
        '--interval',
        '1s',
        '--rps',
        '30',
        '--regression',
        'errors',
        '--json',
      ],
      400_000,
    );
    const line = r.stdout.split('\n').find((l) => l.startsWith('demo result: '));
    assert.ok(line, `no result line; stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    const result = JSON.parse(line.slice('demo result: '.length)) as DemoResult;
    const by = Object.fromEntries(result.rollouts.map((x) => [x.expected, x]));
    assert.equal(by.promoted?.state, 'promoted', r.stdout);
    assert.equal(by.rolled_back?.state, 'rolled_back', r.stdout);
    assert.deepEqual(by.promoted.finalSplit, { stable: 'v2', canary: null, canaryWeight: 0 });
    assert.deepEqual(by.rolled_back.finalSplit, { stable: 'v1', canary: null, canaryWeight: 0 });
    assert.equal(result.ok, true);
    assert.equal(r.code, 0, r.stderr);
    // Live progress, not only a summary: stage changes and checks were printed as they came.
    assert.match(r.stdout, /stage 2: canary at 50%/);
    assert.match(r.stdout, /ROLLED BACK to stable 100%.*error_rate/);
    assert.match(r.stdout, /check \d+: (pass|not yet|fail)/);
    assert.ok(!r.stdout.includes('\x1b['), 'no terminal escapes in headless output');
    // One legend before the checks, and a closing table rather than a JSON dump to read.
    assert.equal(r.stdout.split('each check: canary share').length - 1, 1, 'the legend once');
    assert.match(r.stdout, /agent\s+versions\s+outcome\s+as expected\s+traffic now\s+details/);
    assert.match(r.stdout, /search-bot\s+v1 -> v2\s+rolled back\s+yes\s+v1 100%/);
    assert.match(r.stdout, /dashboard: http:\/\/127\.0\.0\.1:\d+\/#token=/);
    assert.doesNotMatch(r.stdout, /stage 1: canary at 20% \(stage 1: 20%\)/);
  });

  it('refuses bad flags with exit 2, naming the flag, before starting anything', async () => {
    const bad = await run(['demo', '--regression', 'slowness'], 30_000);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--regression must be one of errors, latency, quality, task-success/);
    const order = await run(['demo', '--observe', '5s', '--interval', '10s'], 30_000);
    assert.equal(order.code, 2);
    assert.match(order.stderr, /--interval \(10s\) must not be longer than --observe \(5s\)/);
    assert.doesNotMatch(bad.stderr + order.stderr, /\n\s+at /, 'no stack trace');
  });
});

describe('demo success rule', () => {
  const base: DemoRollout = {
    agent: 'a',
    stable: 'v1',
    canary: 'v2',
    expected: 'promoted',
    state: 'promoted',
    reason: '',
    finalSplit: { stable: 'v2', canary: null, canaryWeight: 0 },
  };
  it('needs the expected end state and a gateway split that agrees', () => {
    assert.equal(endedAsExpected(base), true);
    assert.equal(endedAsExpected({ ...base, state: 'rolled_back' }), false);
    assert.equal(
      endedAsExpected({ ...base, finalSplit: { stable: 'v1', canary: null, canaryWeight: 0 } }),
      false,
    );
    assert.equal(
      endedAsExpected({ ...base, finalSplit: { stable: 'v2', canary: 'v3', canaryWeight: 5 } }),
      false,
    );
    assert.equal(endedAsExpected({ ...base, finalSplit: null }), false);
    const rb = { ...base, expected: 'rolled_back' as const, state: 'rolled_back' as const };
    assert.equal(
      endedAsExpected({ ...rb, finalSplit: { stable: 'v1', canary: null, canaryWeight: 0 } }),
      true,
    );
    assert.equal(
      endedAsExpected({ ...rb, finalSplit: { stable: 'v1', canary: 'v2', canaryWeight: 20 } }),
      false,
    );
  });
});
