// Worker settings read from the environment: bounded, and refused with the variable's name.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { DEFAULT_MAX_CACHED_WORKFLOWS, maxCachedWorkflowsFrom } from '../src/temporal/worker';
import {
  WORKER_MALLOC_ARENA_MAX,
  WORKER_MALLOC_ENV,
  WORKER_NODE_FLAGS,
  workerRelaunch,
} from '../src/cli/commands/worker';
import { eventually } from './harness';

describe('worker settings', () => {
  it('keeps 2,000 rollouts cached unless told otherwise, whatever the heap', () => {
    assert.equal(maxCachedWorkflowsFrom({}), DEFAULT_MAX_CACHED_WORKFLOWS);
    assert.equal(DEFAULT_MAX_CACHED_WORKFLOWS, 2000);
    assert.equal(maxCachedWorkflowsFrom({ AGENT_CANARY_MAX_CACHED_WORKFLOWS: '' }), 2000);
    assert.equal(maxCachedWorkflowsFrom({ AGENT_CANARY_MAX_CACHED_WORKFLOWS: '500' }), 500);
  });

  it('refuses a cache size that is not a whole number in 2..100000, naming the variable', () => {
    for (const bad of ['abc', '1', '0', '-5', '2.5', '100001', '1e9']) {
      assert.throws(
        () => maxCachedWorkflowsFrom({ AGENT_CANARY_MAX_CACHED_WORKFLOWS: bad }),
        /^Error: AGENT_CANARY_MAX_CACHED_WORKFLOWS: must be/,
        bad,
      );
    }
  });
});

describe('worker process settings', () => {
  const argv: string[] = [];
  it('relaunches a Linux worker with 2 malloc arenas, fixed malloc thresholds, a small young generation and tight heaps', () => {
    const r = workerRelaunch({ PATH: '/bin' }, argv, 'linux', true);
    assert.deepEqual(r, {
      env: {
        PATH: '/bin',
        MALLOC_ARENA_MAX: WORKER_MALLOC_ARENA_MAX,
        MALLOC_MMAP_THRESHOLD_: '131072',
        MALLOC_TRIM_THRESHOLD_: '131072',
      },
      nodeFlags: ['--max-semi-space-size=4', '--heap-growing-percent=25'],
    });
    assert.equal(WORKER_MALLOC_ARENA_MAX, '2');
  });

  it('keeps what the operator chose, and runs as it is where it cannot relaunch', () => {
    assert.equal(workerRelaunch({ MALLOC_ARENA_MAX: '8' }, argv, 'linux', true), undefined);
    assert.equal(workerRelaunch({ MALLOC_ARENA_MAX: '' }, argv, 'linux', true), undefined);
    assert.equal(workerRelaunch({}, argv, 'linux', false), undefined);
    assert.equal(workerRelaunch({}, argv, 'darwin', true), undefined);
    assert.equal(
      workerRelaunch({ MALLOC_MMAP_THRESHOLD_: '1048576' }, argv, 'linux', true)?.env.MALLOC_MMAP_THRESHOLD_,
      '1048576',
    );
    assert.deepEqual(workerRelaunch({}, ['--max-semi-space-size=32'], 'linux', true)?.nodeFlags, [
      '--heap-growing-percent=25',
    ]);
    assert.deepEqual(
      workerRelaunch({ NODE_OPTIONS: '--inspect --max_semi_space_size=64' }, argv, 'linux', true)?.nodeFlags,
      ['--heap-growing-percent=25'],
    );
    assert.deepEqual(
      workerRelaunch({}, ['--heap_growing_percent=50', '--max-semi-space-size=4'], 'linux', true)?.nodeFlags,
      [],
    );
  });
});

describe('agent-canary worker process', () => {
  const canRelaunch =
    process.platform === 'linux' && typeof (process as unknown as { execve?: unknown }).execve === 'function';

  /**
   * What a worker process runs as, read once it connects to its server (past any relaunch): a server
   * that accepts and never answers keeps it connecting meanwhile.
   */
  async function readWorker(env: NodeJS.ProcessEnv): Promise<{ argv: string[]; env: string[] }> {
    let connections = 0;
    const silent = net.createServer(() => (connections += 1));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    const child = spawn(
      process.execPath,
      [
        path.join(__dirname, '..', 'bin', 'agent-canary.js'),
        'worker',
        '--address',
        `127.0.0.1:${port}`,
        '--gateway-url',
        'http://127.0.0.1:9',
      ],
      { env: { ...process.env, ...env, AGENT_CANARY_ADMIN_TOKEN: 'x'.repeat(32) }, stdio: 'ignore' },
    );
    try {
      await eventually(
        () => connections,
        (n) => n > 0,
        { what: 'the worker connecting to its server' },
      );
      return {
        argv: (await readFile(`/proc/${child.pid}/cmdline`, 'utf8')).split('\0'),
        env: (await readFile(`/proc/${child.pid}/environ`, 'utf8')).split('\0'),
      };
    } finally {
      child.kill('SIGKILL');
      silent.close();
    }
  }

  it('runs with 2 malloc arenas and its heap flags when started plainly', async function () {
    if (!canRelaunch) this.skip(); // Node before 22.15: the operator sets them (docs/production.md)
    const { argv, env } = await readWorker({ MALLOC_ARENA_MAX: undefined, NODE_OPTIONS: '' });
    for (const [name, value] of Object.entries(WORKER_MALLOC_ENV))
      assert.ok(env.includes(`${name}=${value}`), `${name}=${value} in its environment`);
    for (const flag of WORKER_NODE_FLAGS) assert.ok(argv.includes(flag), argv.join(' '));
  });

  it("keeps an operator's MALLOC_ARENA_MAX and runs as it was started", async function () {
    if (!canRelaunch) this.skip();
    const { argv, env } = await readWorker({ MALLOC_ARENA_MAX: '4' });
    assert.ok(env.includes('MALLOC_ARENA_MAX=4'));
    for (const flag of WORKER_NODE_FLAGS) assert.ok(!argv.includes(flag), argv.join(' '));
  });
});
