// What some suites need beyond Node and Go, and what happens when it is missing. `npm test` on a
// fresh machine provisions what the registries give without root (the Temporal CLI, the Python SDK
// venv); for the rest a suite skips, naming what is missing and how to get it, and the run ends with
// the list. Under CI (CI=true) nothing may be skipped: a missing part fails the suite that needs it.
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { helmMissing } from '../helm-support';
import { kubeMissing } from '../kube-support';

export interface Prerequisite {
  /** What the suites need, as the skip list names it. */
  what: string;
  /** Null when present, else why not. */
  missing(): string | null;
  /** How to get it. */
  how: string;
}

/** One command that installs every Debian package the suites use (needs root). */
export const SYSTEM_PACKAGES = 'sudo bash .ci/install-system.sh';

const onPath = (cmd: string, args = ['--version']): boolean =>
  !spawnSync(cmd, args, { stdio: 'ignore' }).error;
const anyFile = (files: string[]): boolean => files.some((f) => existsSync(f));

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const PREREQUISITES = {
  chromium: {
    what: 'Chromium (the dashboard and Web UI browser tests)',
    missing: () => (existsSync(CHROMIUM_PATH) ? null : `no Chromium at ${CHROMIUM_PATH}`),
    how: `${SYSTEM_PACKAGES} (Debian package chromium), or CHROMIUM_PATH=<a Chromium binary>`,
  },
  haproxy: {
    what: 'HAProxy (gateway replicas behind a load balancer)',
    missing: () =>
      anyFile(['/usr/sbin/haproxy', '/usr/bin/haproxy', '/usr/local/sbin/haproxy'])
        ? null
        : 'haproxy is not installed',
    how: `${SYSTEM_PACKAGES} (Debian package haproxy)`,
  },
  postgres: {
    what: 'PostgreSQL server (gateway replicas, Temporal on PostgreSQL)',
    missing: () =>
      anyFile(['/usr/lib/postgresql', '/usr/local/pgsql/bin/postgres']) || onPath('postgres')
        ? null
        : 'no PostgreSQL server binaries',
    how: `${SYSTEM_PACKAGES} (Debian package postgresql)`,
  },
  prometheus: {
    what: 'Prometheus (the Prometheus metrics backend)',
    missing: () => (onPath('prometheus') ? null : 'prometheus is not installed'),
    how: `${SYSTEM_PACKAGES} (Debian package prometheus)`,
  },
  promtool: {
    what: "promtool (Prometheus' checker of rules and PromQL)",
    missing: () => (onPath('promtool') ? null : 'promtool is not installed'),
    how: `${SYSTEM_PACKAGES} (Debian package prometheus ships it)`,
  },
  python3: {
    what: 'python3 (the Temporal Python SDK as a client; .ci/python-client.sh makes its venv)',
    missing: () => (onPath('python3') ? null : 'python3 is not installed'),
    how: 'sudo apt-get install python3 python3-venv (Debian packages)',
  },
  helm: {
    what: 'helm (the Helm chart tests)',
    missing: helmMissing,
    how: 'bash .ci/helm.sh (builds helm with Go once, ~20 min on a busy 2-core machine)',
  },
  kube: {
    what: 'kube-apiserver, kubectl and etcd (the Kubernetes router, operator and manifests)',
    missing: () => kubeMissing() ?? (onPath('etcd') ? null : 'etcd is not installed'),
    how: 'bash .ci/kube-apiserver.sh (builds kube-apiserver and kubectl with Go once, 15-35 min; installs etcd with apt)',
  },
} satisfies Record<string, Prerequisite>;

export type PrerequisiteName = keyof typeof PREREQUISITES;

export const inCi = (): boolean => /^(1|true|yes)$/i.test(process.env.CI ?? '');

/**
 * Called from a suite's `before`: returns when everything named is there; otherwise fails under CI,
 * or records the skip (for the list printed at the end of the run) and skips the suite.
 */
export function requirePrerequisites(ctx: Mocha.Context, ...names: PrerequisiteName[]): void {
  const absent = names
    .map((n) => ({ p: PREREQUISITES[n] as Prerequisite, why: PREREQUISITES[n].missing() }))
    .filter((x) => x.why !== null);
  if (absent.length === 0) return;
  const lines = absent.map((a) => `${a.p.what}: ${a.why}; get it with: ${a.p.how}`);
  if (inCi()) throw new Error(`CI=true, and this suite needs ${lines.join('; ')}`);
  const suite = ctx.test?.parent?.fullTitle() ?? 'a suite';
  for (const line of lines) recordSkip(`${suite}: ${line}`);
  process.stderr.write(`      skipped: ${lines.join('; ')}\n`);
  ctx.skip();
}

function recordSkip(line: string): void {
  const file = process.env.AGENT_CANARY_TEST_SKIPS;
  if (file) appendFileSync(file, `${line}\n`);
}

/** The skips recorded by every test process of this run, for the summary at the end. */
export function recordedSkips(file: string | undefined): string[] {
  if (!file || !existsSync(file)) return [];
  return [...new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean))];
}
