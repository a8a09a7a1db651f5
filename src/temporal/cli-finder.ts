// Finds or makes the `temporal` CLI (dev server + Web UI). This machine class reaches only package
// registries, so the SDK's own download may fail; the Go module proxy can still build the CLI.
import { execFile, spawn } from 'node:child_process';
import { promises as fs, constants as fsc } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Later tags carry a `replace` directive in go.mod, which `go install pkg@version` refuses. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
const GO_PACKAGE = `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}`;

export type Log = (line: string) => void;

export interface FindOptions {
  log?: Log;
  env?: NodeJS.ProcessEnv;
  /** Skip the slow ways (Go build, SDK download): report absence instead. */
  noBuild?: boolean;
}

export class TemporalCliNotFoundError extends Error {
  override name = 'TemporalCliNotFoundError';
}

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.AGENT_CANARY_CACHE_DIR) return env.AGENT_CANARY_CACHE_DIR;
  if (process.platform === 'darwin') return path.join(os.homedir(), 'Library', 'Caches', 'agent-canary');
  if (process.platform === 'win32')
    return path.join(env.LOCALAPPDATA ?? path.join(os.homedir(), 'AppData', 'Local'), 'agent-canary');
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'agent-canary');
}

const exe = process.platform === 'win32' ? '.exe' : '';
export const cachedBuildPath = (env?: NodeJS.ProcessEnv): string =>
  path.join(cacheDir(env), `temporal-cli-${TEMPORAL_CLI_VERSION}`, `temporal${exe}`);

function run(cmd: string, args: string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, env: env ?? process.env }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${(stderr || err.message).trim().split('\n').slice(-3).join(' | ')}`));
      else resolve(stdout.trim());
    });
  });
}

/** A binary counts only if it runs and says it is the Temporal CLI. */
export async function verifyTemporalCli(file: string): Promise<string> {
  const out = await run(file, ['--version'], 30_000);
  if (!/temporal/i.test(out)) throw new Error(`"${file} --version" printed "${out}", not a Temporal CLI`);
  return out.split('\n')[0];
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await fs.access(file, fsc.X_OK);
    return (await fs.stat(file)).isFile();
  } catch {
    return false;
  }
}

async function onPath(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name + exe);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

async function goBuild(log: Log, env: NodeJS.ProcessEnv, go: string): Promise<string> {
  const target = cachedBuildPath(env);
  await fs.mkdir(path.dirname(target), { recursive: true });
  // Build into a private folder, verify, then rename: a half-written binary is never "cached".
  const staging = await fs.mkdtemp(path.join(path.dirname(target), 'build-'));
  log(`temporal: building ${GO_PACKAGE} with ${go} (first time only; this takes several minutes)`);
  const started = Date.now();
  const ticker = setInterval(
    () => log(`temporal: still building... ${Math.round((Date.now() - started) / 1000)}s`),
    20_000,
  );
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(go, ['install', GO_PACKAGE], {
        env: { ...env, GOBIN: staging, GOFLAGS: '-mod=mod', CGO_ENABLED: env.CGO_ENABLED ?? '0' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let tail = '';
      child.stderr.on('data', (d: Buffer) => {
        tail = (tail + d.toString()).slice(-4000);
      });
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0
          ? resolve()
          : reject(new Error(`go install exited ${code}: ${tail.trim().split('\n').slice(-5).join(' | ')}`)),
      );
    });
    const built = path.join(staging, `temporal${exe}`);
    const version = await verifyTemporalCli(built);
    await fs.rename(built, target);
    log(`temporal: built ${version} in ${Math.round((Date.now() - started) / 1000)}s, cached at ${target}`);
    return target;
  } finally {
    clearInterval(ticker);
    await fs.rm(staging, { recursive: true, force: true });
  }
}

/** Binaries the SDK's dev-server download leaves behind (in our cache or the OS temp folder). */
async function sdkDownloads(env: NodeJS.ProcessEnv): Promise<string[]> {
  const found: string[] = [];
  for (const dir of [cacheDir(env), os.tmpdir()]) {
    try {
      for (const name of await fs.readdir(dir)) {
        if (/^temporal-cli-.*(typescript|\d)/.test(name) && !name.endsWith('.tmp'))
          found.push(path.join(dir, name));
      }
    } catch {
      /* folder missing: nothing downloaded there */
    }
  }
  return found;
}

async function sdkDownload(log: Log, env: NodeJS.ProcessEnv): Promise<string> {
  log('temporal: asking the Temporal SDK to download its dev server (needs internet access)');
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  const dir = cacheDir(env);
  await fs.mkdir(dir, { recursive: true });
  const testEnv = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'cached-download', downloadDir: dir } },
  });
  await testEnv.teardown();
  for (const candidate of await sdkDownloads(env)) {
    if (await isExecutable(candidate)) return candidate;
  }
  throw new Error('the SDK started a server but left no binary in ' + dir);
}

/**
 * Returns the path of a working `temporal` binary, trying in order: TEMPORAL_CLI_PATH, `temporal` on
 * PATH, our cached build, a Go build into the cache, the SDK's own download. One line per attempt.
 */
export async function findTemporalCli(options: FindOptions = {}): Promise<string> {
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const env = options.env ?? process.env;
  const tried: string[] = [];

  const attempt = async (label: string, file: string | undefined): Promise<string | undefined> => {
    if (!file) {
      tried.push(`${label}: not set/found`);
      return undefined;
    }
    try {
      const version = await verifyTemporalCli(file);
      log(`temporal: using ${file} (${label}; ${version})`);
      return file;
    } catch (err) {
      const why = (err as Error).message;
      log(`temporal: ${label} ${file} does not work: ${why}`);
      tried.push(`${label} ${file}: ${why}`);
      return undefined;
    }
  };

  const fromEnv = await attempt('TEMPORAL_CLI_PATH', env.TEMPORAL_CLI_PATH || undefined);
  if (fromEnv) return fromEnv;
  if (env.TEMPORAL_CLI_PATH) {
    // An explicit path that fails is a configuration mistake; falling back would hide it.
    throw new TemporalCliNotFoundError(
      `TEMPORAL_CLI_PATH=${env.TEMPORAL_CLI_PATH} is not a working Temporal CLI`,
    );
  }
  const fromPath = await attempt('PATH', await onPath('temporal', env));
  if (fromPath) return fromPath;
  const cached = cachedBuildPath(env);
  const fromCache = await attempt('cached build', (await isExecutable(cached)) ? cached : undefined);
  if (fromCache) return fromCache;
  for (const file of await sdkDownloads(env)) {
    const ok = await attempt('SDK download', file);
    if (ok) return ok;
  }

  if (!options.noBuild) {
    const go = await onPath('go', env);
    if (go) {
      try {
        return await goBuild(log, env, go);
      } catch (err) {
        log(`temporal: Go build failed: ${(err as Error).message}`);
        tried.push(`go install ${GO_PACKAGE}: ${(err as Error).message}`);
      }
    } else {
      log('temporal: no `go` on PATH, cannot build the CLI from source');
      tried.push('go: not on PATH');
    }
    try {
      const file = await sdkDownload(log, env);
      return (await attempt('SDK download', file)) ?? Promise.reject(new Error('downloaded binary failed'));
    } catch (err) {
      log(`temporal: SDK download failed: ${(err as Error).message}`);
      tried.push(`SDK download: ${(err as Error).message}`);
    }
  }

  throw new TemporalCliNotFoundError(
    [
      'no working Temporal CLI found. Provide one of:',
      '  1. TEMPORAL_CLI_PATH=/path/to/temporal',
      '  2. a `temporal` binary on PATH (https://docs.temporal.io/cli)',
      `  3. Go on PATH: agent-canary builds ${GO_PACKAGE} into ${path.dirname(cached)} (minutes, once)`,
      '  4. internet access: the Temporal SDK downloads its dev server',
      'Tried:',
      ...tried.map((t) => `  - ${t}`),
    ].join('\n'),
  );
}
