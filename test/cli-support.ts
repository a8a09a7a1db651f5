// Runs the agent-canary CLI as a user would: a child process of `node bin/agent-canary.js`.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

const BIN = join(__dirname, '..', 'bin', 'agent-canary.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface CliProcess {
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** Output so far, for tests that act while the command runs. */
  output: () => string;
  done: Promise<CliResult>;
}

/** Starts the CLI and returns at once; `done` settles when it exits (or is killed after timeoutMs). */
export function cliProcess(
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): CliProcess {
  const started = Date.now();
  const child = spawn(process.execPath, [BIN, ...args], {
    // No user config file and no stray TEMPORAL_* from the developer's shell.
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      XDG_CONFIG_HOME: join(tmpdir(), 'agent-canary-test-no-config'),
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `agent-canary ${args.join(' ')} did not exit within ${opts.timeoutMs ?? 30_000}ms\n${stdout}\n${stderr}`,
        ),
      );
    }, opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
  return { child, output: () => stdout, done };
}

export function cli(
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliResult> {
  return cliProcess(args, opts).done;
}

/** Writes a plan file into a fresh temp dir and returns its path. */
export function planFile(content: string | object, name = 'plan.yaml'): string {
  const dir = mkdtempSync(join(tmpdir(), 'agent-canary-plan-'));
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

/** A local port nothing listens on: bound once, then released. */
export async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
