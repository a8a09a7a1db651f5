// docs/getting-started.md with the official OpenAI SDK as the client: the doc's command runs
// examples/openai-client.mjs (the `openai` package from npm) against the real gateway in front of the
// tiny agent (two versions as processes). The SDK's base URL is the agent's invoke route, its
// answer comes from the version the gateway chose, and the request id read with .withResponse()
// is the one the gateway's feedback endpoint joins.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startGateway, type RunningGateway } from '../src/gateway';

const ROOT = join(__dirname, '..');
const DOC = readFileSync(join(ROOT, 'docs', 'getting-started.md'), 'utf8');
const sh = promisify(execFile);

async function tinyAgent(version: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [join(ROOT, 'examples', 'tiny-agent.mjs')], {
    env: { PATH: process.env.PATH ?? '', VERSION: version, PORT: '0', DELAY_MS: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`tiny-agent exited with ${code}: ${out}`)));
  });
  return { url, child };
}

describe('docs/getting-started.md with the OpenAI SDK as the client', function () {
  this.timeout(60_000);
  const children: ChildProcess[] = [];
  let gateway: RunningGateway;

  before(async () => {
    const v1 = await tinyAgent('v1');
    const v2 = await tinyAgent('v2');
    children.push(v1.child, v2.child);
    gateway = await startGateway({
      adminToken: 'openai-client-test-token',
      ingestToken: null,
      config: { agents: { 'tiny-bot': { stable: 'v1', versions: { v1: v1.url, v2: v2.url } } } },
    });
  });

  after(async () => {
    await gateway?.close();
    for (const c of children) c.kill();
  });

  it('documents the base URL, and its command gets an answer and a request id feedback joins', async () => {
    assert.ok(DOC.includes('http://127.0.0.1:8080/v1/agents/<agent>/invoke/v1'), 'the base URL in the doc');
    const line = DOC.split('\n').find((l) => l.startsWith('node examples/openai-client.mjs '));
    assert.ok(line, 'the doc runs examples/openai-client.mjs');
    const command = line.replace(/\s+#.*$/, '').replaceAll('http://127.0.0.1:8080', gateway.url);
    const { stdout } = await sh('bash', ['-c', command], { cwd: ROOT, timeout: 30_000 });
    // The stable version serves everything until a rollout sets a split.
    assert.match(stdout, /^v1 answered: \(v1\) you asked: what is a canary\?$/m);
    const requestId = /^request id: ([0-9a-f-]{36})$/m.exec(stdout)?.[1];
    assert.ok(requestId, stdout);
    const feedback = /^feedback: HTTP (\d+) (.*)$/m.exec(stdout);
    assert.equal(feedback?.[1], '200', stdout);
    assert.deepEqual(JSON.parse(feedback![2]), { requestId, agent: 'tiny-bot', version: 'v1' });
  });
});
