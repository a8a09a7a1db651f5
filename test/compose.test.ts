// docker-compose.yml cannot be started here (no Docker daemon), so it is checked two ways: against the
// Compose Specification's JSON schema (vendored under test/fixtures/compose-spec), and for what users
// rely on: every service present, start order by health, the five search attributes, and worker and
// gateway settings that the CLI's own parsers accept.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import YAML from 'yaml';
import { loadGatewayConfig } from '../src/gateway';
import { resolveBackendSettings } from '../src/temporal/backends';
import { resolveConnectionSettings } from '../src/temporal/connection';
import { SA } from '../workflows/messages';
import { haproxyBin } from './replicas-support';
import { requirePrerequisites } from './support/prerequisites';

const root = path.join(__dirname, '..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, string | number>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string | string[] };
  ports?: string[];
  volumes?: string[];
}
interface ComposeFile {
  services: Record<string, Service>;
}

let compiled: ReturnType<Ajv2020['compile']> | undefined;
/** Compiling the 90 KB schema takes seconds: once per run. */
function validator() {
  if (compiled) return compiled;
  const schema = JSON.parse(read('test/fixtures/compose-spec/compose-spec.json'));
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats(ajv);
  // compose-go registers this format (Go durations such as "5s", "1m30s").
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
  compiled = ajv.compile(schema);
  return compiled;
}

/** Compose's variable interpolation: ${VAR:-default}, ${VAR:?error}, ${VAR}, and $$ for a literal $. */
function interpolate(text: string, env: Record<string, string>): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}/g, (m, name, op, arg) => {
    if (m === '$$') return '$';
    const value = env[name];
    if (value) return value;
    if (op === ':-') return arg;
    if (op === ':?') throw new Error(`compose refuses to start: ${name}: ${arg}`);
    return '';
  });
}

const TOKEN = 'test-admin-token-0123456789';
// Compose reads YAML merge keys (`<<: *gateway-replica`).
const raw = () => YAML.parse(read('docker-compose.yml'), { merge: true }) as ComposeFile;
const compose = () =>
  YAML.parse(interpolate(read('docker-compose.yml'), { AGENT_CANARY_ADMIN_TOKEN: TOKEN }), {
    merge: true,
  }) as ComposeFile;
const commandOf = (s: Service) => (Array.isArray(s.command) ? s.command : [s.command ?? '']);
const env = (s: Service) =>
  Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v)]));

describe('docker-compose.yml', () => {
  it('is valid against the Compose Specification schema', () => {
    const validate = validator();
    const ok = validate(raw());
    assert.ok(ok, `schema errors:\n${JSON.stringify(validate.errors, null, 2)}`);
  });

  it('the schema check catches a broken file (so the test above can fail)', () => {
    const validate = validator();
    const broken = raw();
    (broken.services.worker.depends_on!.temporal as { condition: string }).condition = 'service_up';
    assert.equal(validate(broken), false);
    assert.ok(validate.errors!.some((e) => e.instancePath.includes('/services/worker/depends_on')));
  });

  it('runs Temporal on PostgreSQL with schema and namespace jobs, the Web UI, the gateway and the worker', () => {
    const s = compose().services;
    assert.deepEqual(Object.keys(s).sort(), [
      'gateway',
      'gateway-1',
      'gateway-2',
      'gateway-db',
      'postgres',
      'temporal',
      'temporal-namespace',
      'temporal-schema',
      'temporal-ui',
      'worker',
    ]);
    assert.match(s.postgres.image!, /^postgres:/);
    // temporalio/auto-setup is deprecated: the plain server, with the schema set up beforehand.
    assert.match(s.temporal.image!, /^temporalio\/server:/);
    assert.equal(s.temporal.environment?.DB, 'postgres12');
    assert.equal(s.temporal.environment?.POSTGRES_SEEDS, 'postgres');
    assert.match(s['temporal-ui'].image!, /^temporalio\/ui:/);
    assert.equal(s['temporal-ui'].environment?.TEMPORAL_ADDRESS, 'temporal:7233');
    for (const job of ['temporal-schema', 'temporal-namespace'])
      assert.match(s[job].image!, /^temporalio\/admin-tools:/);
    assert.equal(s['temporal-schema'].environment?.POSTGRES_SEEDS, 'postgres');
    assert.equal(s['temporal-namespace'].environment?.TEMPORAL_ADDRESS, 'temporal:7233');
    assert.ok(
      s['gateway-1'].build && s['gateway-2'].build && s.worker.build,
      'gateway replicas and worker are built from the Dockerfile',
    );
    assert.match(s.gateway.image!, /^haproxy:/);
  });

  it('server and admin tools are the same Temporal version', () => {
    const s = compose().services;
    const server = s.temporal.image!.split(':')[1];
    for (const job of ['temporal-schema', 'temporal-namespace'])
      assert.equal(s[job].image!.split(':')[1].split('-')[0], server, `${job} runs another version`);
  });

  it('refuses to start without an admin token instead of running an open admin API', () => {
    assert.throws(() => interpolate(read('docker-compose.yml'), {}), /AGENT_CANARY_ADMIN_TOKEN/);
  });

  it('the jobs run the scripts of deploy/ that CI runs outside containers', () => {
    const s = compose().services;
    for (const [job, script] of [
      ['temporal-schema', 'deploy/temporal-schema.sh'],
      ['temporal-namespace', 'deploy/temporal-namespace.sh'],
    ]) {
      const mount = s[job].volumes!.find((v) => v.startsWith(`./${script}:`));
      assert.ok(mount, `${job} mounts ${script}`);
      assert.deepEqual(commandOf(s[job]), [mount.split(':')[1]]);
      assert.ok(existsSync(path.join(root, script)), `${script} exists`);
    }
  });

  it('the namespace job creates all six search attributes with the types the workflow declares', () => {
    const script = read('deploy/temporal-namespace.sh');
    const list = /for sa in ([^;]+); do/.exec(script)![1].trim().split(/\s+/);
    const created = Object.fromEntries(list.map((pair) => pair.split('=')));
    const typeName: Record<string, string> = { KEYWORD: 'Keyword', INT: 'Int' };
    const expected = Object.fromEntries(Object.values(SA).map((k) => [k.name, typeName[k.type]]));
    assert.deepEqual(created, expected);
    assert.equal(Object.keys(created).length, 6);
  });

  it('starts things in order: worker after a healthy server, the search attributes and a healthy gateway', () => {
    const s = compose().services;
    assert.deepEqual(s.worker.depends_on, {
      temporal: { condition: 'service_healthy' },
      'temporal-namespace': { condition: 'service_completed_successfully' },
      gateway: { condition: 'service_healthy' },
    });
    assert.equal(s['temporal-namespace'].depends_on?.temporal.condition, 'service_healthy');
    assert.equal(s.temporal.depends_on?.['temporal-schema'].condition, 'service_completed_successfully');
    assert.equal(s['temporal-schema'].depends_on?.postgres.condition, 'service_healthy');
    assert.equal(s['temporal-ui'].depends_on?.temporal.condition, 'service_healthy');
    // A service_healthy dependency on a service without a healthcheck would never start.
    for (const [name, svc] of Object.entries(s)) {
      for (const [dep, { condition }] of Object.entries(svc.depends_on ?? {})) {
        assert.ok(s[dep], `${name} depends on unknown service ${dep}`);
        if (condition === 'service_healthy') assert.ok(s[dep].healthcheck, `${dep} needs a healthcheck`);
      }
    }
  });

  it('runs two `agent-canary gateway` replicas on the example config and a shared database, behind HAProxy where the worker looks', () => {
    const s = compose().services;
    const ids: string[] = [];
    for (const name of ['gateway-1', 'gateway-2']) {
      const cmd = commandOf(s[name]);
      assert.deepEqual(cmd.slice(0, 4), ['agent-canary', 'gateway', '--config', '/config/gateway.yaml']);
      const flag = (f: string) => cmd[cmd.indexOf(f) + 1];
      assert.equal(flag('--host'), '0.0.0.0', 'listens beyond the container');
      assert.equal(flag('--port'), '8080');
      ids.push(flag('--replica-id'));
      const mount = s[name].volumes!.find((v) => v.split(':')[1] === '/config/gateway.yaml')!;
      assert.ok(mount, 'the config file is mounted');
      assert.ok(loadGatewayConfig(path.join(root, mount.split(':')[0])).agents.size > 0);
      const db = new URL(env(s[name]).AGENT_CANARY_GATEWAY_DATABASE_URL);
      assert.equal(db.protocol, 'postgres:');
      assert.equal(db.host, 'postgres:5432');
      assert.equal(db.pathname, '/agent_canary_gateway');
      assert.match(commandOf(s['gateway-db']).join(' '), /createdb agent_canary_gateway/);
      assert.equal(s[name].depends_on?.['gateway-db'].condition, 'service_completed_successfully');
      assert.ok((s[name].healthcheck!.test as string[]).join(' ').includes('127.0.0.1:8080/healthz'));
    }
    assert.deepEqual(ids, ['gateway-1', 'gateway-2'], 'each replica names itself');

    // HAProxy balances over exactly those replicas, on the port the worker uses.
    const cfgMount = s.gateway.volumes!.find((v) => v.endsWith(':/usr/local/etc/haproxy/haproxy.cfg:ro'))!;
    const cfg = read(cfgMount.split(':')[0]);
    const servers = [...cfg.matchAll(/^\s*server (\S+) (\S+):(\d+) check/gm)].map((m) => `${m[2]}:${m[3]}`);
    assert.deepEqual(servers, ['gateway-1:8080', 'gateway-2:8080']);
    assert.match(cfg, /bind :8080/);
    const backends = resolveBackendSettings({}, env(s.worker));
    assert.equal(backends.router, 'gateway');
    assert.equal(backends.metrics, 'gateway');
    assert.equal(backends.gatewayUrl, 'http://gateway:8080');
    assert.equal(backends.gatewayToken, env(s['gateway-1']).AGENT_CANARY_ADMIN_TOKEN);
  });

  it("HAProxy accepts deploy/haproxy.cfg (Debian's haproxy, the version of the compose image)", function () {
    requirePrerequisites(this, 'haproxy');
    // `haproxy -c` parses and checks the file as the container would; the replica names resolve
    // only on the compose network, which init-addr allows for.
    const out = execFileSync(haproxyBin(), ['-c', '-f', path.join(root, 'deploy', 'haproxy.cfg')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    assert.match(out, /Configuration file is valid/);
  });

  it('runs `agent-canary worker` against the compose Temporal server', () => {
    const s = compose().services;
    assert.deepEqual(commandOf(s.worker), ['agent-canary', 'worker']);
    const settings = resolveConnectionSettings({}, env(s.worker));
    assert.equal(settings.address, 'temporal:7233');
    assert.equal(settings.namespace, 'default');
    assert.ok(
      s.temporal.ports!.some((p) => p.endsWith(':7233')),
      'the CLI on the host reaches the server',
    );
  });
});

describe('Dockerfile', () => {
  it('ships everything bin/agent-canary.js loads at run time', () => {
    const text = read('Dockerfile');
    const copied = [...text.matchAll(/^COPY (\S+)/gm)].map((m) => m[1]);
    for (const needed of ['package.json', 'tsconfig.json', 'bin', 'src', 'workflows', 'activities']) {
      assert.ok(copied.includes(needed), `Dockerfile does not copy ${needed}`);
    }
    assert.match(text, /npm ci --omit=dev/);
    assert.match(text, /ln -s \/app\/bin\/agent-canary\.js \/usr\/local\/bin\/agent-canary/);
    assert.match(text, /^USER node$/m);
  });

  it('bundles the workflow code at build time, after copying every source the bundle hashes', () => {
    const text = read('Dockerfile');
    const build = text.indexOf('RUN npm run build:workflows');
    assert.ok(build > 0, 'no workflow bundle step');
    for (const dir of ['workflows', 'src', 'activities'])
      assert.ok(text.indexOf(`COPY ${dir} `) < build, `${dir} is copied after the bundle is made`);
    assert.match(text, /^FROM node:24-/m);
  });
});
