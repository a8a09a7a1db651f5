// A real Kubernetes API server for tests: etcd (Debian's etcd-server) and kube-apiserver (built from
// the Go module proxy by .ci/kube-apiserver.sh into the per-user cache) on loopback ports, RBAC on,
// the Gateway API CRDs applied. Nothing is reconciled (no controllers run): objects are stored,
// validated against the CRD schemas and authorized, which is all the router and the manifests need.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../src/temporal/devserver';

export const KUBE_CACHE =
  process.env.AGENT_CANARY_KUBE_CACHE ?? join(homedir(), '.cache', 'agent-canary', 'kube');
export const KUBE_APISERVER = join(KUBE_CACHE, 'bin', 'kube-apiserver');
export const KUBECTL = join(KUBE_CACHE, 'bin', 'kubectl');
export const GATEWAY_CRDS = join(KUBE_CACHE, 'crds', 'gateway-api-v1.2.1');
export const FLAGGER_CRDS = join(KUBE_CACHE, 'crds', 'flagger-v1.41.0.yaml');

/** Why the Kubernetes tests cannot run here, or null when the binaries are built. */
export function kubeMissing(): string | null {
  const missing = [
    KUBE_APISERVER,
    KUBECTL,
    join(GATEWAY_CRDS, 'gateway.networking.k8s.io_httproutes.yaml'),
    FLAGGER_CRDS,
  ].filter((f) => !existsSync(f));
  if (missing.length === 0) return null;
  return `kube-apiserver not built (${missing.join(', ')} missing): run \`bash .ci/kube-apiserver.sh\` (15 to 35 min once, on 2 cores)`;
}

export interface KubeCluster {
  server: string;
  /** kubeconfig of the cluster admin (system:masters). */
  adminKubeconfig: string;
  dir: string;
  /** Writes a kubeconfig for a bearer token (and another server URL), returns its path. */
  kubeconfigFor(name: string, token: string, serverUrl?: string): string;
  /** kubectl as admin; throws with its output when it fails. */
  kubectl(args: string[], input?: string): string;
  /** Tokens of users known to the API server with no RBAC grant at all. */
  unprivilegedToken: string;
  stop(): Promise<void>;
}

export async function startKubeCluster(log: (line: string) => void = () => undefined): Promise<KubeCluster> {
  const why = kubeMissing();
  if (why) throw new Error(why);
  if (spawnSync('etcd', ['--version']).status !== 0) {
    throw new Error('etcd is not installed: run `bash .ci/kube-apiserver.sh` (Debian package etcd-server)');
  }
  const dir = mkdtempSync(join(tmpdir(), 'agent-canary-kube-'));
  const children: ChildProcess[] = [];
  const stop = async () => {
    for (const c of children.reverse()) await kill(c);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const etcd = spawnLogged(
      'etcd',
      [
        '--name=test',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=test=http://127.0.0.1:${peerPort}`,
        '--log-level=error',
      ],
      log,
    );
    children.push(etcd.child);

    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    const adminToken = randomBytes(24).toString('hex');
    const unprivilegedToken = randomBytes(24).toString('hex');
    writeFileSync(
      join(dir, 'tokens.csv'),
      `${adminToken},admin,admin,system:masters\n${unprivilegedToken},nobody,nobody\n`,
      { mode: 0o600 },
    );
    const certDir = join(dir, 'certs');
    const api = spawnLogged(
      KUBE_APISERVER,
      [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--cert-dir=${certDir}`,
        `--token-auth-file=${join(dir, 'tokens.csv')}`,
        '--authorization-mode=RBAC',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${join(dir, 'sa.pub')}`,
        `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
        '--service-cluster-ip-range=10.96.0.0/24',
        '--enable-priority-and-fairness=false',
        '--endpoint-reconciler-type=none',
        '--v=0',
      ],
      log,
    );
    children.push(api.child);
    const server = `https://127.0.0.1:${apiPort}`;

    const kubeconfigFor = (name: string, token: string, serverUrl = server): string => {
      const file = join(dir, `kubeconfig-${name}`);
      // kube-apiserver makes a self-signed serving certificate (with its CA) in the cert dir at startup.
      writeFileSync(
        file,
        [
          'apiVersion: v1',
          'kind: Config',
          'clusters:',
          `- name: test`,
          '  cluster:',
          `    server: ${serverUrl}`,
          `    certificate-authority: ${join(certDir, 'apiserver.crt')}`,
          'users:',
          `- name: ${name}`,
          '  user:',
          `    token: ${token}`,
          'contexts:',
          `- name: ${name}`,
          '  context:',
          '    cluster: test',
          `    user: ${name}`,
          '    namespace: default',
          `current-context: ${name}`,
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
      return file;
    };
    const adminKubeconfig = kubeconfigFor('admin', adminToken);
    const kubectl = (args: string[], input?: string): string => {
      const r = spawnSync(KUBECTL, [`--kubeconfig=${adminKubeconfig}`, ...args], {
        encoding: 'utf8',
        input,
        timeout: 60_000,
      });
      if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
      return r.stdout;
    };

    const started = Date.now();
    for (;;) {
      for (const p of [etcd, api]) {
        if (p.child.exitCode !== null) throw new Error(`${p.name} exited: ${p.tail()}`);
      }
      const r = spawnSync(KUBECTL, [`--kubeconfig=${adminKubeconfig}`, 'get', '--raw=/readyz'], {
        encoding: 'utf8',
        timeout: 10_000,
      });
      if (r.status === 0 && r.stdout.trim() === 'ok') break;
      if (Date.now() - started > 90_000)
        throw new Error(`kube-apiserver not ready after 90 s: ${api.tail()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    log(`kube-apiserver ready at ${server} in ${Date.now() - started} ms`);

    const crds = readdirSync(GATEWAY_CRDS).filter((f) => f.endsWith('.yaml'));
    kubectl(['apply', '--server-side', ...crds.flatMap((f) => ['-f', join(GATEWAY_CRDS, f)])]);
    await waitEstablished(kubectl, 'httproutes.gateway.networking.k8s.io');
    // Discovery of a new group can lag the Established condition by a moment.
    for (const t = Date.now(); ;) {
      const r = spawnSync(KUBECTL, [`--kubeconfig=${adminKubeconfig}`, 'get', 'httproutes', '-A'], {
        encoding: 'utf8',
      });
      if (r.status === 0) break;
      if (Date.now() - t > 30_000) throw new Error(`httproutes not served: ${r.stderr}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    log(`Gateway API CRDs applied in ${Date.now() - started} ms`);
    return { server, adminKubeconfig, dir, kubeconfigFor, kubectl, unprivilegedToken, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Polls a CRD until its Established condition is True. (`kubectl wait --for=condition=Established`
 * fails at once with "status.conditions accessor error" when it looks before the API server has
 * written any condition, which a loaded machine makes likely.)
 */
export async function waitEstablished(
  kubectl: (args: string[]) => string,
  crd: string,
  timeoutMs = 60_000,
): Promise<void> {
  const started = Date.now();
  let last = '';
  for (;;) {
    try {
      last = kubectl([
        'get',
        `crd/${crd}`,
        '-o',
        'jsonpath={.status.conditions[?(@.type=="Established")].status}',
      ]);
      if (last.trim() === 'True') return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() - started > timeoutMs)
      throw new Error(`CRD ${crd} not Established after ${timeoutMs} ms: ${last}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function spawnLogged(cmd: string, args: string[], log: (line: string) => void) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (b: Buffer) => {
    out = (out + b.toString('utf8')).slice(-8000);
    if (process.env.TEST_LOG_LEVEL === 'debug') log(b.toString('utf8').trimEnd());
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, name: cmd.split('/').pop()!, tail: () => out.slice(-2000) };
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
