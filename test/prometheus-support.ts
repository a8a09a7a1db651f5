// A real Prometheus (Debian package `prometheus`, installed by .ci/install-system.sh) on loopback,
// scraping the given targets every second, for tests that check what Prometheus really reads.
// Suites call requirePrerequisites(this, 'prometheus') first (test/support/prerequisites.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../src/temporal/devserver';
import { waitFor } from './gateway-support';

export interface RunningPrometheus {
  url: string;
  /** The value of an instant query's first series, or undefined when it has none. */
  value(query: string): Promise<number | undefined>;
  /** Every series of an instant query: labels and value. */
  series(query: string): Promise<{ metric: Record<string, string>; value: number }[]>;
  close(): Promise<void>;
}

export async function startPrometheus(jobs: Record<string, string>): Promise<RunningPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'agent-canary-prom-'));
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      ...Object.entries(jobs).flatMap(([job, target]) => [
        `  - job_name: ${job}`,
        '    scrape_interval: 1s',
        `    static_configs: [{ targets: ["${target}"] }]`,
      ]),
    ].join('\n'),
  );
  const port = await freePort();
  const child: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = `http://127.0.0.1:${port}`;
  const close = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  const series = async (query: string) => {
    const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(query)}`);
    const json = (await res.json()) as {
      data: { result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    return json.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  };
  try {
    await waitFor(
      'prometheus to be ready',
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited: ${stderr.slice(-1000)}`);
        const ok = await fetch(`${url}/-/ready`).then(
          (r) => r.ok,
          () => false,
        );
        return ok ? true : undefined;
      },
      30_000,
    );
  } catch (err) {
    await close();
    throw err;
  }
  return { url, series, value: async (q) => (await series(q))[0]?.value, close };
}
