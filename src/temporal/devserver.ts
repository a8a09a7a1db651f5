// Starts and stops a real Temporal dev server (`temporal server start-dev`) with the project's search
// attributes. One launcher for tests, `agent-canary dev` and the demo.
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { SA } from '../../workflows/messages';
import { findTemporalCli, type Log } from './cli-finder';

export interface DevServerOptions {
  /** gRPC port; 0 or undefined picks a free one. */
  port?: number;
  /** Web UI port; 0/undefined picks a free one. */
  uiPort?: number;
  /** HTTP API port (Temporal's JSON API, which the CLI's fast path reads); 0/undefined picks a free one. */
  httpPort?: number;
  ui?: boolean;
  ip?: string;
  namespace?: string;
  /** SQLite file for persistence across restarts; in-memory when omitted. */
  dbFilename?: string;
  /** Binary to run; found with findTemporalCli when omitted. */
  executable?: string;
  log?: Log;
  /** Server log file (its own output); discarded when omitted. */
  logFile?: string;
  startTimeoutMs?: number;
  /** Server dynamic config, e.g. { 'limit.historyCount.suggestContinueAsNew': 200 } (tests, benchmarks). */
  dynamicConfig?: Record<string, string | number | boolean>;
}

export interface DevServer {
  address: string;
  namespace: string;
  uiUrl: string | null;
  /** Base URL of the HTTP API, e.g. http://127.0.0.1:7243. */
  httpUrl: string;
  pid: number;
  stop(): Promise<void>;
}

const SA_TYPES: Record<string, string> = { KEYWORD: 'Keyword', INT: 'Int' };

export function searchAttributeFlags(): string[] {
  return Object.values(SA).flatMap((key) => ['--search-attribute', `${key.name}=${SA_TYPES[key.type]}`]);
}

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function waitUntilServing(address: string, namespace: string, child: ChildProcess, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`dev server exited with code ${child.exitCode}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await connection.workflowService.describeNamespace({ namespace });
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      lastError = (err as Error).message;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`dev server at ${address} did not answer within ${timeoutMs}ms: ${lastError}`);
}

/** The server exited while starting (a port taken between picking and binding it, most often). */
class ExitedDuringStartError extends Error {}

/**
 * Starts a dev server. Ports left to us are picked free, but another process can take one before the
 * server binds it (tests start servers side by side): a server that exits while starting is started
 * again on other ports, twice at most, and the error names what it printed.
 */
export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const executable = options.executable ?? (await findTemporalCli({ log }));
  const picked = !options.port || (options.ui !== false && !options.uiPort) || !options.httpPort;
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options, executable);
    } catch (err) {
      if (!(err instanceof ExitedDuringStartError) || !picked || attempt >= 3) throw err;
      log(`temporal: ${err.message}; starting it again on other ports`);
    }
  }
}

async function startOnce(options: DevServerOptions, executable: string): Promise<DevServer> {
  const ip = options.ip ?? '127.0.0.1';
  const namespace = options.namespace ?? 'default';
  const ui = options.ui ?? true;
  const port = options.port || (await freePort(ip));
  const uiPort = ui ? options.uiPort || (await freePort(ip)) : 0;
  const httpPort = options.httpPort || (await freePort(ip));

  const args = ['server', 'start-dev', '--ip', ip, '--port', String(port), '--namespace', namespace];
  args.push('--http-port', String(httpPort), '--log-level', 'warn', ...searchAttributeFlags());
  if (ui) args.push('--ui-ip', ip, '--ui-port', String(uiPort));
  else args.push('--headless');
  for (const [key, value] of Object.entries(options.dynamicConfig ?? {})) {
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  }
  if (options.dbFilename) {
    await fs.mkdir(path.dirname(path.resolve(options.dbFilename)), { recursive: true });
    args.push('--db-filename', options.dbFilename);
  }

  const out = options.logFile ? await fs.open(options.logFile, 'a') : undefined;
  // detached: own process group, so stopping it also stops anything it forks.
  const child = spawn(executable, args, {
    detached: true,
    stdio: ['ignore', out ? out.fd : 'ignore', out ? out.fd : 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  // Without a log file, the last of what the server says on stderr, for the error if it exits while
  // starting; drained for its whole life (a full pipe would block it), never keeping this process up.
  let stderrTail = '';
  if (child.stderr) {
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (stderrTail = (stderrTail + d).slice(-2000)));
    (child.stderr as unknown as { unref?: () => void }).unref?.();
  }
  const reaper = spawn(
    process.execPath,
    [path.join(__dirname, '..', '..', 'bin', 'reaper.js'), String(process.pid), String(child.pid)],
    {
      detached: true,
      stdio: 'ignore',
    },
  );
  reaper.unref();

  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      /* already gone */
    }
  };
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        kill('SIGTERM');
        const timer = setTimeout(() => kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      try {
        process.kill(reaper.pid!, 'SIGTERM');
      } catch {
        /* gone */
      }
      await out?.close();
    })());

  const address = `${ip}:${port}`;
  try {
    await waitUntilServing(address, namespace, child, options.startTimeoutMs ?? 60_000);
  } catch (err) {
    await stop();
    if (child.exitCode !== null) {
      const said = stderrTail.trim().split('\n').slice(-3).join(' | ');
      throw new ExitedDuringStartError(`${(err as Error).message}${said ? `: ${said}` : ''}`);
    }
    throw err;
  }
  const uiUrl = ui ? `http://${ip}:${uiPort}` : null;
  return { address, namespace, uiUrl, httpUrl: `http://${ip}:${httpPort}`, pid: child.pid!, stop };
}
