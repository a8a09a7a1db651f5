import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Verdict } from '../src/analysis/types';
import {
  createNotifiers,
  HEADER_DELIVERY,
  HEADER_EVENT,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  LogNotifier,
  SlackNotifier,
  verifySignature,
  WebhookNotifier,
  type DeliveryPolicy,
  type NotifyEvent,
} from '../src/notify';
import { formatMetricLine } from '../src/notify/format';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

/** A local HTTP receiver whose behaviour per request is chosen by the test. */
async function receiver(
  respond: (req: Received, n: number, res: ServerResponse) => void = (_r, _n, res) => res.end('ok'),
): Promise<{ url: string; received: Received[]; close: () => Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      received.push(r);
      respond(r, received.length, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/canary`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const verdict: Verdict = {
  verdict: 'fail',
  judge: 'thresholds',
  reason: 'error_rate above limit',
  metrics: [
    {
      metric: 'error_rate',
      stable: 0.01,
      canary: 0.08,
      stableSamples: 500,
      canarySamples: 480,
      status: 'fail',
      reason: 'above 5%',
    },
    {
      metric: 'p99_latency_ms',
      stable: 812.4,
      canary: 905,
      stableSamples: 500,
      canarySamples: 480,
      status: 'pass',
      reason: '',
    },
  ],
};

const event: NotifyEvent = {
  type: 'rolled_back',
  agent: 'support-bot',
  stable: 'v1.3.1',
  canary: 'v1.3.2',
  workflowId: 'canary-support-bot',
  runId: 'run-1',
  stageIndex: 1,
  stageCount: 4,
  percent: 25,
  reason: '3 failed checks',
  by: 'agent-canary',
  at: '2026-11-26T18:00:00.000Z',
  verdict,
};

const SECRET = 'a-long-enough-shared-secret';
const fast: DeliveryPolicy = { attempts: 3, attemptTimeoutMs: 300, backoffMs: 50, budgetMs: 2_000 };

describe('notifications', () => {
  it("prints a plan's custom metric with its numbers, not undefined", () => {
    const line = formatMetricLine({
      metric: 'costPerTask',
      stable: 0.012345,
      canary: 0.0312,
      stableSamples: 400,
      canarySamples: 380,
      status: 'fail',
      reason: 'worse',
    } as unknown as Parameters<typeof formatMetricLine>[0]);
    assert.equal(line, 'costPerTask: stable 0.01235 vs canary 0.0312 (n=400/380) fail: worse');
  });

  describe('generic webhook', () => {
    it('delivers the event signed over timestamp and body; the receiver verifies it', async () => {
      const rx = await receiver();
      try {
        const n = new WebhookNotifier({
          url: rx.url,
          secret: SECRET,
          uiUrl: 'http://127.0.0.1:8233/',
          namespace: 'default',
        });
        await n.send(event);
        assert.equal(rx.received.length, 1);
        const { headers, body } = rx.received[0];
        assert.equal(headers['content-type'], 'application/json');
        assert.equal(headers[HEADER_EVENT], 'rolled_back');
        assert.match(String(headers[HEADER_DELIVERY]), /^[0-9a-f-]{36}$/);
        const timestamp = String(headers[HEADER_TIMESTAMP]);
        const signature = String(headers[HEADER_SIGNATURE]);
        assert.match(signature, /^sha256=[0-9a-f]{64}$/);
        assert.ok(verifySignature({ secret: SECRET, body, timestamp, signature }));

        const payload = JSON.parse(body);
        assert.equal(payload.type, 'rolled_back');
        assert.equal(payload.agent, 'support-bot');
        assert.equal(payload.verdict.metrics[0].canary, 0.08);
        assert.equal(payload.url, 'http://127.0.0.1:8233/namespaces/default/workflows/canary-support-bot');

        // What a receiver must refuse: a changed body, a wrong secret, a replayed old delivery.
        assert.ok(
          !verifySignature({ secret: SECRET, body: body.replace('0.08', '0.01'), timestamp, signature }),
        );
        assert.ok(!verifySignature({ secret: 'another-secret-of-16+', body, timestamp, signature }));
        assert.ok(
          !verifySignature({
            secret: SECRET,
            body,
            timestamp,
            signature,
            now: Number(timestamp) * 1000 + 600_000,
          }),
        );
        assert.ok(!verifySignature({ secret: SECRET, body, timestamp, signature: undefined }));
      } finally {
        await rx.close();
      }
    });

    it('retries a failing endpoint a bounded number of times, keeping the delivery id', async () => {
      const rx = await receiver((_r, _n, res) => {
        res.statusCode = 503;
        res.end('down');
      });
      try {
        const n = new WebhookNotifier({ url: rx.url, secret: SECRET, delivery: fast });
        await assert.rejects(n.send(event), /failed after 3 attempt\(s\).*HTTP 503/);
        assert.equal(rx.received.length, 3);
        const ids = new Set(rx.received.map((r) => r.headers[HEADER_DELIVERY]));
        assert.equal(ids.size, 1);
        // Backoff: the attempts are spread out, not fired at once.
        assert.ok(rx.received[2].at - rx.received[0].at >= fast.backoffMs * 3 - 10);
      } finally {
        await rx.close();
      }
    });

    it('succeeds when a retry gets through', async () => {
      const rx = await receiver((_r, n, res) => {
        res.statusCode = n < 3 ? 502 : 200;
        res.end();
      });
      try {
        await new WebhookNotifier({ url: rx.url, secret: SECRET, delivery: fast }).send(event);
        assert.equal(rx.received.length, 3);
        const last = rx.received[2];
        assert.ok(
          verifySignature({
            secret: SECRET,
            body: last.body,
            timestamp: String(last.headers[HEADER_TIMESTAMP]),
            signature: String(last.headers[HEADER_SIGNATURE]),
          }),
        );
      } finally {
        await rx.close();
      }
    });

    it('does not retry a refusal (4xx), and keeps none of the answer body', async () => {
      const rx = await receiver((_r, _n, res) => {
        res.statusCode = 401;
        res.end('bad signature');
      });
      try {
        const n = new WebhookNotifier({ url: rx.url, secret: SECRET, delivery: fast });
        await assert.rejects(n.send(event), (err: Error) => {
          assert.match(err.message, /refused the notification: HTTP 401$/);
          return true;
        });
        assert.equal(rx.received.length, 1);
      } finally {
        await rx.close();
      }
    });

    it('gives up on a slow endpoint within its time budget', async () => {
      // The receiver never answers: every attempt must be cut off by the per-attempt timeout.
      const rx = await receiver(() => undefined);
      try {
        const n = new WebhookNotifier({ url: rx.url, secret: SECRET, delivery: fast });
        const started = Date.now();
        await assert.rejects(n.send(event), /timed out/);
        const took = Date.now() - started;
        assert.equal(rx.received.length, 3);
        assert.ok(took < fast.budgetMs, `took ${took}ms, budget ${fast.budgetMs}ms`);
        assert.ok(took >= 3 * fast.attemptTimeoutMs, `took only ${took}ms`);
      } finally {
        await rx.close();
      }
    });

    it('stops starting attempts once the budget is spent', async () => {
      const rx = await receiver(() => undefined);
      try {
        const policy: DeliveryPolicy = {
          attempts: 10,
          attemptTimeoutMs: 400,
          backoffMs: 100,
          budgetMs: 1_000,
        };
        const started = Date.now();
        await assert.rejects(
          new WebhookNotifier({ url: rx.url, secret: SECRET, delivery: policy }).send(event),
        );
        assert.ok(Date.now() - started <= policy.budgetMs + 1000);
        assert.ok(rx.received.length < 10 && rx.received.length >= 2, `${rx.received.length} attempts`);
      } finally {
        await rx.close();
      }
    });

    it('reports an unreachable endpoint without hanging', async () => {
      const rx = await receiver();
      const url = rx.url;
      await rx.close();
      await assert.rejects(
        new WebhookNotifier({ url, secret: SECRET, delivery: fast }).send(event),
        /failed after 3 attempt\(s\)/,
      );
    });
  });

  describe('slack', () => {
    it('posts a readable message with the numbers, who acted and a link to the rollout', async () => {
      const rx = await receiver();
      try {
        const n = new SlackNotifier({
          webhookUrl: `${rx.url}/T000/B000/XXXX`,
          uiUrl: 'http://localhost:8233',
          namespace: 'canaries',
        });
        assert.ok(!n.name.includes('XXXX'), 'the webhook secret path must not show up in names or errors');
        await n.send(event);
        assert.equal(rx.received.length, 1);
        const msg = JSON.parse(rx.received[0].body) as {
          text: string;
          blocks: { text?: { text: string } }[];
        };
        const all = [msg.text, ...msg.blocks.map((b) => b.text?.text ?? '')].join('\n');
        for (const expected of [
          'support-bot',
          'v1.3.1',
          'v1.3.2',
          'ROLLED BACK',
          'stage 2/4',
          '25%',
          'by agent-canary',
          '3 failed checks',
          'verdict: fail',
          'error_rate: stable 1.00% vs canary 8.00%',
          'p99_latency_ms: stable 812ms vs canary 905ms',
          '<http://localhost:8233/namespaces/canaries/workflows/canary-support-bot|',
        ]) {
          assert.ok(all.includes(expected), `missing "${expected}" in:\n${all}`);
        }
        assert.ok(msg.text.includes('ROLLED BACK'), 'the fallback text alone tells what happened');
      } finally {
        await rx.close();
      }
    });

    it('escapes Slack markup in free text', async () => {
      const rx = await receiver();
      try {
        await new SlackNotifier({ webhookUrl: rx.url }).send({
          ...event,
          reason: '<!channel> & co',
          verdict: undefined,
        });
        const msg = JSON.parse(rx.received[0].body) as { blocks: { text: { text: string } }[] };
        assert.ok(msg.blocks[0].text.text.includes('&lt;!channel&gt; &amp; co'));
        assert.equal(msg.blocks.length, 1, 'no verdict section, no link without a UI address');
      } finally {
        await rx.close();
      }
    });
  });

  describe('createNotifiers', () => {
    it('builds one notifier per target and writes log events as one JSON line', async () => {
      const lines: string[] = [];
      const notifiers = createNotifiers(
        [
          { type: 'slack', webhookUrl: 'https://hooks.slack.com/services/T/B/SECRET' },
          { type: 'webhook', url: 'https://ops.example/hooks', secret: SECRET },
          { type: 'log' },
          { type: 'log' },
        ],
        { log: (l) => lines.push(l), uiUrl: 'http://ui', namespace: 'default' },
      );
      assert.deepEqual(
        notifiers.map((n) => n.constructor.name),
        ['SlackNotifier', 'WebhookNotifier', 'LogNotifier'],
      );
      assert.ok(!notifiers[0].name.includes('SECRET'));
      const log = notifiers[2] as LogNotifier;
      await log.send(event);
      assert.equal(lines.length, 1);
      assert.ok(!lines[0].includes('\n'));
      const parsed = JSON.parse(lines[0]);
      assert.equal(parsed.type, 'rolled_back');
      assert.equal(parsed.url, 'http://ui/namespaces/default/workflows/canary-support-bot');
    });
  });
});

describe('secrets kept out of the plan', function () {
  it('reads a webhook secret and a Slack URL from the worker environment, named in the plan', async function () {
    const { resolvePlan } = await import('../src/plan');
    const { createNotifiers } = await import('../src/notify');
    const plan = resolvePlan({
      agent: 'bot',
      stable: 'v1',
      canary: 'v2',
      notify: [
        { type: 'webhook', url: 'http://127.0.0.1:9/hook', secretEnv: 'AGENT_CANARY_NOTIFY_HOOK_SECRET' },
        { type: 'slack', webhookUrlEnv: 'AGENT_CANARY_NOTIFY_SLACK_URL' },
      ],
    });
    // The resolved plan (the workflow input, visible in history) carries names, not secrets.
    assert.ok(!JSON.stringify(plan).includes('s3cr3t'));
    const ok = createNotifiers(plan.notify, {
      env: {
        AGENT_CANARY_NOTIFY_HOOK_SECRET: 's3cr3t-s3cr3t-s3cr3t',
        AGENT_CANARY_NOTIFY_SLACK_URL: 'http://127.0.0.1:9/x',
      },
    });
    assert.deepEqual(
      ok.map((n) => n.constructor.name),
      ['WebhookNotifier', 'SlackNotifier'],
    );
    const missing = createNotifiers(plan.notify, { env: {} });
    await assert.rejects(
      missing[0].send({} as never),
      /AGENT_CANARY_NOTIFY_HOOK_SECRET is not set on the worker/,
    );
    await assert.rejects(
      missing[1].send({} as never),
      /AGENT_CANARY_NOTIFY_SLACK_URL is not set on the worker/,
    );
  });

  it('refuses a target with both or neither of a secret and its variable, naming the field', async function () {
    const { resolvePlan, PlanError } = await import('../src/plan');
    for (const target of [
      { type: 'webhook', url: 'http://127.0.0.1:9/hook' },
      {
        type: 'webhook',
        url: 'http://127.0.0.1:9/hook',
        secret: 'x'.repeat(16),
        secretEnv: 'AGENT_CANARY_NOTIFY_HOOK_SECRET',
      },
      { type: 'slack' },
    ]) {
      assert.throws(
        () => resolvePlan({ agent: 'bot', stable: 'v1', canary: 'v2', notify: [target] }),
        (err: unknown) =>
          err instanceof PlanError &&
          /notify\.0\.(secret|webhookUrl)/.test(err.problems.map((p) => p.field).join()),
      );
    }
  });
});
