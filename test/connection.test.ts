// Connection settings the Temporal way: config-file profile < TEMPORAL_* environment < flags.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  clientConnectionOptions,
  connectClient,
  nativeConnectionOptions,
  resolveConnectionSettings,
} from '../src/temporal/connection';
import { ServerUnreachableError, SettingsError } from '../src/temporal/errors';
import { closedPort } from './cli-support';

const dir = mkdtempSync(join(tmpdir(), 'agent-canary-conn-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const CERT = file('client.pem', '-----BEGIN CERTIFICATE-----\ncert\n-----END CERTIFICATE-----\n');
const KEY = file('client.key', '-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n');
const CA = file('ca.pem', '-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n');
const TOML = file(
  'temporal.toml',
  `[profile.default]
address = "default.example:7233"
namespace = "from-default-profile"

[profile.prod]
address = "prod.tmprl.cloud:7233"
namespace = "prod.acct"
api_key = "key-from-profile"
`,
);
// No config file, no variables: what a user gets on a fresh machine.
const EMPTY = { TEMPORAL_CONFIG_FILE: join(dir, 'missing.toml') };

describe('connection settings', () => {
  it('defaults to a local dev server without TLS', () => {
    const s = resolveConnectionSettings({}, EMPTY);
    assert.equal(s.address, 'localhost:7233');
    assert.equal(s.namespace, 'default');
    assert.equal(s.tls, false);
    assert.equal(s.apiKey, undefined);
  });

  it('reads TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and TEMPORAL_API_KEY; an API key implies TLS', () => {
    const s = resolveConnectionSettings(
      {},
      {
        ...EMPTY,
        TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233',
        TEMPORAL_NAMESPACE: 'ns.acct',
        TEMPORAL_API_KEY: 'k',
      },
    );
    assert.deepEqual(
      [s.address, s.namespace, s.apiKey, s.tls],
      ['ns.acct.tmprl.cloud:7233', 'ns.acct', 'k', true],
    );
    assert.deepEqual(clientConnectionOptions(s).tls, {});
    assert.equal(nativeConnectionOptions(s).apiKey, 'k');
  });

  it('flags override the environment', () => {
    const s = resolveConnectionSettings(
      { address: 'flag.example:7233', namespace: 'flag-ns' },
      { ...EMPTY, TEMPORAL_ADDRESS: 'env.example:7233', TEMPORAL_NAMESPACE: 'env-ns' },
    );
    assert.equal(s.address, 'flag.example:7233');
    assert.equal(s.namespace, 'flag-ns');
  });

  it('loads TLS files from the environment and from flags', () => {
    const fromEnv = resolveConnectionSettings(
      {},
      {
        ...EMPTY,
        TEMPORAL_TLS_CLIENT_CERT_PATH: CERT,
        TEMPORAL_TLS_CLIENT_KEY_PATH: KEY,
        TEMPORAL_TLS_SERVER_CA_CERT_PATH: CA,
      },
    );
    assert.ok(typeof fromEnv.tls === 'object');
    const tls = fromEnv.tls as Exclude<typeof fromEnv.tls, boolean>;
    assert.match(String(tls.clientCertPair?.crt), /cert/);
    assert.match(String(tls.clientCertPair?.key), /key/);
    assert.match(String(tls.serverRootCACertificate), /ca/);

    const fromFlags = resolveConnectionSettings({ tlsCa: CA, tlsServerName: 'temporal.internal' }, EMPTY);
    const t = fromFlags.tls as Exclude<typeof fromFlags.tls, boolean>;
    assert.equal(t.serverNameOverride, 'temporal.internal');
    assert.equal(t.clientCertPair, undefined);
    assert.deepEqual(nativeConnectionOptions(fromFlags).tls, t);
  });

  it('TEMPORAL_TLS=true asks for TLS with system roots', () => {
    assert.equal(resolveConnectionSettings({}, { ...EMPTY, TEMPORAL_TLS: 'true' }).tls, true);
  });

  it('uses profiles from the Temporal config file, chosen by --profile or TEMPORAL_PROFILE', () => {
    const def = resolveConnectionSettings({}, { TEMPORAL_CONFIG_FILE: TOML });
    assert.deepEqual([def.address, def.namespace], ['default.example:7233', 'from-default-profile']);
    const prod = resolveConnectionSettings({ profile: 'prod' }, { TEMPORAL_CONFIG_FILE: TOML });
    assert.deepEqual(
      [prod.address, prod.namespace, prod.apiKey, prod.tls],
      ['prod.tmprl.cloud:7233', 'prod.acct', 'key-from-profile', true],
    );
    const viaEnv = resolveConnectionSettings({}, { TEMPORAL_CONFIG_FILE: TOML, TEMPORAL_PROFILE: 'prod' });
    assert.equal(viaEnv.namespace, 'prod.acct');
    // The environment beats the profile, flags beat both.
    const mixed = resolveConnectionSettings(
      { profile: 'prod', namespace: 'flag-ns' },
      { TEMPORAL_CONFIG_FILE: TOML, TEMPORAL_ADDRESS: 'env.example:7233' },
    );
    assert.deepEqual([mixed.address, mixed.namespace], ['env.example:7233', 'flag-ns']);
  });

  it('refuses bad settings with SettingsError naming what to fix', () => {
    assert.throws(
      () => resolveConnectionSettings({ profile: 'nope' }, { TEMPORAL_CONFIG_FILE: TOML }),
      (e) => {
        return (
          e instanceof SettingsError &&
          /Profile 'nope' not found/.test(e.message) &&
          /--profile/.test(e.message)
        );
      },
    );
    assert.throws(
      () => resolveConnectionSettings({ tlsCert: join(dir, 'absent.pem'), tlsKey: KEY }, EMPTY),
      (e) =>
        e instanceof SettingsError && e.message.includes('--tls-cert file') && e.message.includes('ENOENT'),
    );
    assert.throws(
      () => resolveConnectionSettings({ tlsCert: CERT }, EMPTY),
      (e) => e instanceof SettingsError && /--tls-cert and --tls-key/.test(e.message),
    );
    assert.throws(
      () => resolveConnectionSettings({ address: 'http://localhost:7233' }, EMPTY),
      (e) => e instanceof SettingsError && /not host:port/.test(e.message),
    );
  });

  it('an unreachable server fails within seconds, naming the address and the fix', async () => {
    const port = await closedPort();
    const settings = resolveConnectionSettings({ address: `127.0.0.1:${port}` }, EMPTY);
    const started = Date.now();
    await assert.rejects(connectClient(settings), (e) => {
      return (
        e instanceof ServerUnreachableError &&
        e.address === `127.0.0.1:${port}` &&
        /connection refused/.test(e.message) &&
        /agent-canary dev/.test(e.message)
      );
    });
    assert.ok(Date.now() - started < 5_000);
  });
});
