// Real parts for the gateway replicas tests: a private PostgreSQL (Debian's server), gateway
// replicas as separate `agent-canary gateway` processes, and Debian's HAProxy in front of them.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../src/temporal/devserver';
import { startPostgres, type RunningPostgres } from '../src/temporal/postgres-db';
import { eventually } from './harness';
import { TOKEN } from './gateway-support';

export async function startSharedDatabase(dir: string): Promise<{ pg: RunningPostgres; url: string }> {
  const db = await startPostgres({ dataDir: join(dir, 'pg'), log: () => {} });
  const admin = new pg.Client({
    connectionString: `postgres://${db.user}:${db.password}@127.0.0.1:${db.port}/postgres`,
  });
  await admin.connect();
  try {
    await admin.query('CREATE DATABASE agent_canary_gateway');
  } finally {
    await admin.end();
  }
  return { pg: db, url: `postgres://${db.user}:${db.password}@127.0.0.1:${db.port}/agent_canary_gateway` };
}

export interface Replica {
  id: string;
  port: number;
  url: string;
  child: ChildProcess;
  output(): string;
}

/** One replica as its own process; resolves once it listens (it has read the shared state by then). */
export async function startReplica(
  id: string,
  configFile: string,
  databaseUrl: string,
  port?: number,
): Promise<Replica> {
  const p = port ?? (await freePort());
  const child = spawn(
    process.execPath,
    [
      join(__dirname, '..', 'bin', 'agent-canary.js'),
      'gateway',
      '-c',
      configFile,
      '--port',
      String(p),
      '--token',
      TOKEN,
      '--replica-id',
      id,
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        AGENT_CANARY_GATEWAY_DATABASE_URL: databaseUrl,
        AGENT_CANARY_INGEST_TOKEN: TOKEN,
      },
    },
  );
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  await eventually(
    () => out,
    (o) => o.includes('gateway on http://') || child.exitCode !== null,
    { timeoutMs: 30_000, what: `replica ${id} to listen` },
  );
  if (child.exitCode !== null) throw new Error(`replica ${id} exited ${child.exitCode}: ${out}`);
  return { id, port: p, url: `http://127.0.0.1:${p}`, child, output: () => out };
}

export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

export function haproxyBin(): string {
  for (const p of ['/usr/sbin/haproxy', '/usr/bin/haproxy', '/usr/local/sbin/haproxy']) {
    if (existsSync(p)) return p;
  }
  throw new Error('haproxy is not installed: run `sudo bash .ci/install-system.sh` (Debian package haproxy)');
}

/** HAProxy round-robin over the replicas, with health checks on /healthz every second. */
export async function startHaproxy(
  dir: string,
  replicas: { id: string; port: number }[],
): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(
    cfg,
    [
      'global',
      '  maxconn 512',
      'defaults',
      '  mode http',
      '  timeout connect 2s',
      '  timeout client 30s',
      '  timeout server 30s',
      '  option redispatch',
      '  retries 2',
      'frontend agents',
      `  bind 127.0.0.1:${port}`,
      '  default_backend gateways',
      'backend gateways',
      '  balance roundrobin',
      '  option httpchk GET /healthz',
      // Tolerant of a loaded machine: a replica is out after 3 failed checks in a row, 1 s apart.
      '  timeout check 2s',
      '  default-server inter 1s fall 3 rise 1',
      ...replicas.map((r) => `  server ${r.id} 127.0.0.1:${r.port} check`),
      '',
    ].join('\n'),
  );
  const child = spawn(haproxyBin(), ['-db', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const url = `http://127.0.0.1:${port}`;
  await eventually(
    async () => (await fetch(`${url}/healthz`)).status,
    (s) => s === 200,
    { timeoutMs: 15_000, what: `haproxy to answer (${out})` },
  );
  return { url, child };
}
