// Hostile plans and notify targets (issue 11): what a plan author must not be able to reach or break.
// Pure: no Temporal, no gateway; local HTTP receivers only.
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createNotifiers, type NotifyEvent } from '../src/notify';
import { PlanError, parsePlan, planForWorkflow, resolvePlan, type NotifyTarget } from '../src/plan';

const base = { agent: 'bot', stable: 'v1', canary: 'v2' };
const fast = { attempts: 2, attemptTimeoutMs: 500, backoffMs: 10, budgetMs: 2000 };
const event: NotifyEvent = {
  type: 'rolled_back',
  agent: 'bot',
  stable: 'v1',
  canary: 'v2',
  workflowId: 'canary-bot',
  runId: 'r',
  stageIndex: 0,
  stageCount: 2,
  percent: 5,
  reason: 'x',
  by: 'y',
  at: new Date(0).toISOString(),
};

function fields(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof PlanError, `expected a PlanError, got ${String(err)}`);
    return err.problems.map((p) => p.field);
  }
  assert.fail('expected the plan to be refused');
}

async function server(
  respond: (res: ServerResponse, path: string) => void,
): Promise<{ url: string; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const s: Server = createServer((req, res) => {
    hits.push(req.url ?? '');
    req.resume();
    req.on('end', () => respond(res, req.url ?? ''));
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    hits,
    close: () =>
      new Promise<void>((r) => {
        s.closeAllConnections();
        s.close(() => r());
      }),
  };
}

async function failureOf(targets: NotifyTarget[], env: Record<string, string> = {}): Promise<string> {
  const [n] = createNotifiers(targets, { env, delivery: fast });
  try {
    await n.send(event);
  } catch (err) {
    return `${n.name} ${(err as Error).message}`;
  }
  assert.fail('expected the delivery to fail');
}

describe('security: environment variables a plan may name', () => {
  it('refuses a plan naming a worker variable outside AGENT_CANARY_NOTIFY_', () => {
    for (const name of ['AGENT_CANARY_ADMIN_TOKEN', 'TEMPORAL_API_KEY', 'PATH', 'AGENT_CANARY_NOTIFY_']) {
      assert.deepEqual(
        fields(() => resolvePlan({ ...base, notify: [{ type: 'slack', webhookUrlEnv: name }] })),
        ['notify.0.webhookUrlEnv'],
      );
      assert.deepEqual(
        fields(() =>
          resolvePlan({
            ...base,
            notify: [{ type: 'webhook', url: 'https://ops.example/h', secretEnv: name }],
          }),
        ),
        ['notify.0.secretEnv'],
      );
    }
  });

  it('never reads such a variable, nor shows a value that is not a URL (targets that skipped the plan check)', async () => {
    const secret = 'admin-token-value-0123456789';
    const refused = await failureOf([{ type: 'slack', webhookUrlEnv: 'AGENT_CANARY_ADMIN_TOKEN' }], {
      AGENT_CANARY_ADMIN_TOKEN: secret,
    });
    assert.match(refused, /AGENT_CANARY_ADMIN_TOKEN may not be read/);
    assert.ok(!refused.includes(secret));
    const notUrl = await failureOf([{ type: 'slack', webhookUrlEnv: 'AGENT_CANARY_NOTIFY_X' }], {
      AGENT_CANARY_NOTIFY_X: secret,
    });
    assert.match(notUrl, /AGENT_CANARY_NOTIFY_X is not a URL/);
    assert.ok(!notUrl.includes(secret), notUrl);
  });
});

describe('security: outbound URLs from plans', () => {
  it('refuses non-http(s) schemes and user:password@ in notify URLs', () => {
    for (const url of [
      'file:///etc/passwd',
      'gopher://127.0.0.1:6379/_x',
      'ftp://x/',
      'javascript:alert(1)',
    ]) {
      assert.deepEqual(
        fields(() => resolvePlan({ ...base, notify: [{ type: 'slack', webhookUrl: url }] })),
        ['notify.0.webhookUrl'],
      );
    }
    assert.deepEqual(
      fields(() =>
        resolvePlan({
          ...base,
          notify: [{ type: 'webhook', url: 'https://user:pa55word@ops.example/h', secret: 'x'.repeat(16) }],
        }),
      ),
      ['notify.0.url'],
    );
  });

  it('keeps credentials, path and answer body out of the recorded failure', async () => {
    const rx = await server((res) => {
      res.statusCode = 400;
      res.end('{"error":"internal-detail root:x:0:0 from 10.0.0.7"}');
    });
    try {
      const msg = await failureOf([{ type: 'slack', webhookUrl: `${rx.url}/T000/B000/hook-secret-path` }]);
      assert.match(msg, /HTTP 400$/);
      const withCredentials = await failureOf([{ type: 'slack', webhookUrlEnv: 'AGENT_CANARY_NOTIFY_URL' }], {
        AGENT_CANARY_NOTIFY_URL: rx.url.replace('http://', 'http://user:pa55word@') + '/hook-secret-path',
      });
      assert.match(withCredentials, /must not carry user:password@/);
      for (const leak of ['pa55word', 'hook-secret-path', 'internal-detail', '10.0.0.7']) {
        assert.ok(
          !msg.includes(leak) && !withCredentials.includes(leak),
          `${leak} in ${msg} / ${withCredentials}`,
        );
      }
      assert.equal(rx.hits.length, 1, 'the credential URL was never called');
    } finally {
      await rx.close();
    }
  });

  it('does not follow redirects', async () => {
    const inner = await server((res) => res.end('ok'));
    const outer = await server((res) => {
      res.writeHead(307, { location: `${inner.url}/internal` });
      res.end();
    });
    try {
      const msg = await failureOf([{ type: 'webhook', url: `${outer.url}/h`, secret: 'x'.repeat(16) }]);
      assert.match(msg, /redirect/);
      assert.equal(outer.hits.length, 1, 'a redirect is a refusal, not retried');
      assert.equal(inner.hits.length, 0);
    } finally {
      await inner.close();
      await outer.close();
    }
  });

  it('calls only hosts the worker allows, when it gives a list', async () => {
    const rx = await server((res) => res.end('ok'));
    try {
      const [n] = createNotifiers([{ type: 'webhook', url: `${rx.url}/h`, secret: 'x'.repeat(16) }], {
        env: { AGENT_CANARY_OUTBOUND_ALLOW_HOSTS: 'hooks.slack.com, .example.com' },
        delivery: fast,
      });
      await assert.rejects(n.send(event), /host 127\.0\.0\.1 is not in the worker's allowed hosts/);
      assert.equal(rx.hits.length, 0);
      const [ok] = createNotifiers([{ type: 'webhook', url: `${rx.url}/h`, secret: 'x'.repeat(16) }], {
        allowHosts: ['127.0.0.1'],
        delivery: fast,
      });
      await ok.send(event);
      assert.equal(rx.hits.length, 1);
    } finally {
      await rx.close();
    }
  });
});

describe('security: plan bounds', () => {
  it('refuses durations that overflow or exceed their field, naming the field', () => {
    assert.deepEqual(
      fields(() => resolvePlan({ ...base, progressDeadline: '9'.repeat(400) })),
      ['progressDeadline'],
    );
    assert.deepEqual(
      fields(() => resolvePlan({ ...base, progressDeadline: '100000000d' })),
      ['progressDeadline'],
    );
    assert.deepEqual(
      fields(() => resolvePlan({ ...base, progressDeadline: `${'9'.repeat(300)}d` })),
      ['progressDeadline'],
    );
    assert.deepEqual(
      fields(() => resolvePlan({ ...base, leaseTtl: '2h' })),
      ['leaseTtl'],
    );
    assert.deepEqual(
      fields(() => resolvePlan({ ...base, analysis: { interval: '1ms' } })),
      ['analysis.interval'],
    );
    assert.deepEqual(
      fields(() => resolvePlan({ ...base, stages: [{ weight: 100, observe: 1e300 }] })),
      ['stages.0.observe'],
    );
  });

  it('refuses steps that expand to too many stages, at once', () => {
    for (const stepWeight of [0.001, 1e-7, 5e-324]) {
      const started = performance.now();
      assert.deepEqual(
        fields(() => resolvePlan({ ...base, steps: { stepWeight, maxWeight: 50, interval: '1m' } })),
        ['steps.stepWeight'],
      );
      assert.ok(performance.now() - started < 200, 'refused without building the stages');
    }
    assert.deepEqual(
      fields(() =>
        resolvePlan({ ...base, stages: Array.from({ length: 101 }, (_, i) => ({ weight: i + 1 })) }),
      ),
      ['stages'],
    );
  });
});

describe('security: plan text', () => {
  it('refuses a self-referencing alias at once (YAML.parse took 17 s on 1 KB) and bounds alias bombs', () => {
    const started = performance.now();
    assert.throws(
      () => parsePlan(`agent: &x ${'[*x,'.repeat(200)}${']'.repeat(200)}`),
      (err: unknown) => err instanceof PlanError && /refers to its own anchor/.test(err.message),
    );
    assert.ok(performance.now() - started < 500, `took ${performance.now() - started} ms`);
    const laughs = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 10; i++) {
      const [p, c] = [String.fromCharCode(96 + i), String.fromCharCode(97 + i)];
      laughs.push(`${c}: &${c} [${Array(10).fill(`*${p}`).join(', ')}]`);
    }
    assert.throws(
      () => parsePlan(laughs.join('\n')),
      (err: unknown) => err instanceof PlanError && /alias/i.test(err.message),
    );
  });
});

describe('security: planForWorkflow (the workflow input gate)', () => {
  const good = resolvePlan({ ...base, stages: [{ weight: 10, observe: '1m' }, { weight: 100 }] });

  it('accepts a resolved plan as resolvePlan makes it, unchanged', () => {
    assert.deepEqual(planForWorkflow(JSON.parse(JSON.stringify(good))), good);
  });

  it('refuses resolved plans that would wedge or outlive the workflow, naming the field', () => {
    const bad: [string, object][] = [
      ['stages', { stages: [] }],
      ['leaseTtlMs', { leaseTtlMs: 1e300 }],
      ['leaseTtlMs', { leaseTtlMs: Number.MAX_VALUE }],
      ['progressDeadlineMs', { progressDeadlineMs: 1e20 }],
      ['analysis.intervalMs', { analysis: { ...good.analysis, intervalMs: 0.001 } }],
      [
        'stages.1.weight',
        {
          stages: [
            { weight: 10, observeMs: 1 },
            { weight: 5, observeMs: 0 },
          ],
        },
      ],
      ['stages.0.weight', { stages: [{ weight: 50, observeMs: 0 }] }],
      ['agent', { agent: '../../etc' }],
      ['canary', { canary: 'v1' }],
      ['notify.0.webhookUrl', { notify: [{ type: 'slack', webhookUrl: 'file:///etc/passwd' }] }],
      ['notify.0.webhookUrlEnv', { notify: [{ type: 'slack', webhookUrlEnv: 'AGENT_CANARY_ADMIN_TOKEN' }] }],
    ];
    for (const [field, patch] of bad) {
      const f = fields(() => planForWorkflow({ ...good, ...patch }));
      assert.ok(f.includes(field), `${JSON.stringify(patch).slice(0, 80)}: got ${f.join(', ')}`);
    }
  });
});
