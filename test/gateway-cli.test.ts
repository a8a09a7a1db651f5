import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startUpstream, waitFor } from './gateway-support';

const ROOT = join(__dirname, '..');
const BIN = join(ROOT, 'bin', 'agent-canary.js');

describe('agent-canary gateway (command line)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-cli-'));
  const env = { ...process.env, AGENT_CANARY_ADMIN_TOKEN: '' };

  it('serves the configured agents until SIGTERM, then exits 0', async () => {
    const up = await startUpstream('v1');
    const config = join(dir, 'gateway.yaml');
    writeFileSync(config, `agents:\n  bot:\n    stable: v1\n    versions: { v1: "${up.url}" }\n`);
    const child = spawn(
      process.execPath,
      [BIN, 'gateway', '--config', config, '--port', '0', '--data-dir', join(dir, 'data')],
      {
        cwd: ROOT,
        env: { ...env, AGENT_CANARY_ADMIN_TOKEN: 'cli-token' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      const url = await waitFor(
        'the gateway to print its address',
        () => /gateway on (http:\S+):/.exec(out)?.[1],
        30_000,
      );
      const res = await fetch(`${url}/v1/agents/bot/invoke`, { method: 'POST', body: '{}' });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-agent-version'), 'v1');
      const split = await fetch(`${url}/v1/admin/agents/bot/split`, {
        headers: { authorization: 'Bearer cli-token' },
      });
      assert.equal(split.status, 200);
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await up.close();
    }
  });

  it('exits 2 with the field and reason on a bad config, and without a token', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'agents:\n  bot:\n    stable: v2\n    versions: { v1: "http://127.0.0.1:1" }\n');
    const r = spawnSync(process.execPath, [BIN, 'gateway', '--config', bad, '--token', 't'], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
    });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /agents\.bot\.stable: "v2" is not one of the versions \(v1\)/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace for a user mistake');

    const good = join(dir, 'good.yaml');
    writeFileSync(good, 'agents:\n  bot:\n    stable: v1\n    versions: { v1: "http://127.0.0.1:1" }\n');
    const noToken = spawnSync(process.execPath, [BIN, 'gateway', '--config', good], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
    });
    assert.equal(noToken.status, 2);
    assert.match(noToken.stderr, /needs a token: pass --token or set AGENT_CANARY_ADMIN_TOKEN/);
  });
});
