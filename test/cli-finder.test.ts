// The Temporal CLI finder's order and messages, with small stand-in binaries (shell scripts).
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TemporalCliNotFoundError, cachedBuildPath, findTemporalCli } from '../src/temporal/cli-finder';

async function fakeBinary(dir: string, name: string, versionLine: string): Promise<string> {
  const file = path.join(dir, name);
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(file, `#!/bin/sh\necho "${versionLine}"\n`, { mode: 0o755 });
  return file;
}

describe('Temporal CLI finder', function () {
  let tmp: string;
  let lines: string[];
  const log = (l: string) => lines.push(l);

  beforeEach(async function () {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'finder-'));
    lines = [];
  });
  afterEach(async function () {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  const env = (extra: NodeJS.ProcessEnv) => ({
    PATH: path.join(tmp, 'empty'),
    AGENT_CANARY_CACHE_DIR: path.join(tmp, 'cache'),
    ...extra,
  });

  it('prefers TEMPORAL_CLI_PATH over PATH and the cache, and says what it uses', async function () {
    const explicit = await fakeBinary(path.join(tmp, 'a'), 'temporal', 'temporal version 9.9.9');
    await fakeBinary(path.join(tmp, 'bin'), 'temporal', 'temporal version 1.0.0');
    const found = await findTemporalCli({
      log,
      noBuild: true,
      env: env({ TEMPORAL_CLI_PATH: explicit, PATH: path.join(tmp, 'bin') }),
    });
    assert.equal(found, explicit);
    assert.match(lines.join('\n'), /TEMPORAL_CLI_PATH.*9\.9\.9/);
  });

  it('refuses a TEMPORAL_CLI_PATH that is not a Temporal CLI instead of silently using another', async function () {
    const wrong = await fakeBinary(path.join(tmp, 'a'), 'temporal', 'hello world');
    await fakeBinary(path.join(tmp, 'bin'), 'temporal', 'temporal version 1.0.0');
    await assert.rejects(
      findTemporalCli({
        log,
        noBuild: true,
        env: env({ TEMPORAL_CLI_PATH: wrong, PATH: path.join(tmp, 'bin') }),
      }),
      /TEMPORAL_CLI_PATH=.* is not a working Temporal CLI/,
    );
  });

  it('falls back to PATH, then to the per-user cache', async function () {
    const onPath = await fakeBinary(path.join(tmp, 'bin'), 'temporal', 'temporal version 1.0.0');
    assert.equal(
      await findTemporalCli({ log, noBuild: true, env: env({ PATH: path.join(tmp, 'bin') }) }),
      onPath,
    );
    const e = env({});
    const cached = cachedBuildPath(e);
    await fakeBinary(path.dirname(cached), path.basename(cached), 'temporal version 1.5.1');
    assert.equal(await findTemporalCli({ log, noBuild: true, env: e }), cached);
  });

  it('lists the four ways to provide the binary when nothing works', async function () {
    await assert.rejects(findTemporalCli({ log, noBuild: true, env: env({}) }), (err: unknown) => {
      assert.ok(err instanceof TemporalCliNotFoundError);
      const m = (err as Error).message;
      for (const way of [/TEMPORAL_CLI_PATH/, /on PATH/, /Go on PATH/, /internet access/])
        assert.match(m, way);
      return true;
    });
  });
});
