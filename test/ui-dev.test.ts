// What `dev` prints for people: notifications as readable lines with the dashboard and Temporal
// links, and a warning for each gateway upstream that nothing answers on.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  deadUpstreams,
  notificationLines,
  readableNotifiers,
  ReadableLogNotifier,
  upstreamWarnings,
} from '../src/cli/dev-output';
import { resolveGatewayConfig } from '../src/gateway/config';
import { freePort } from '../src/temporal/devserver';
import type { NotifyEvent } from '../src/notify';

const event: NotifyEvent = {
  type: 'rolled_back',
  agent: 'support-bot',
  stable: 'v1',
  canary: 'v2',
  workflowId: 'canary-support-bot',
  runId: 'r1',
  stageIndex: 0,
  stageCount: 3,
  percent: 20,
  reason:
    'canary unhealthy: error_rate: worse, canary 0.15 vs stable 0.01 (LR 620, p=1.4e-7; errors 17/112 vs 4/512)',
  by: 'agent-canary',
  at: '2026-01-01T12:03:04.000Z',
};

describe('dev output for people', () => {
  it('prints a notification as lines, not JSON, with the why and both links', () => {
    const lines = notificationLines(event, {
      dashboard: (id) => `http://127.0.0.1:8234/rollouts/${id}`,
      temporalUiUrl: 'http://127.0.0.1:8233',
      namespace: 'default',
    });
    assert.equal(
      lines[0],
      '12:03:04 notification: support-bot: ROLLED BACK to stable (v1 -> v2), stage 1/3, canary at 20%',
    );
    assert.match(
      lines[1],
      /why: canary unhealthy: error_rate: worse, canary 0\.15 vs stable 0\.01 \(errors 17\/112 vs 4\/512\)$/,
    );
    assert.equal(lines[2].trim(), 'dashboard: http://127.0.0.1:8234/rollouts/canary-support-bot');
    assert.equal(
      lines[3].trim(),
      'Temporal: http://127.0.0.1:8233/namespaces/default/workflows/canary-support-bot',
    );
    assert.ok(lines.every((l) => !l.trim().startsWith('{')));
    const paused = notificationLines({ ...event, type: 'paused', by: 'alice', reason: 'traces' }, {});
    assert.match(paused[0], /rollout paused .* by alice$/);
    assert.equal(paused.length, 2, 'no link lines when nothing to link to');
  });

  it('writes the log target readably and keeps the other channels', async () => {
    const written: string[] = [];
    const notifiers = readableNotifiers(
      (l) => written.push(l),
      {},
    )([
      { type: 'log' },
      { type: 'webhook', url: 'https://hooks.example/x', secret: 's'.repeat(20) },
    ] as never);
    assert.deepEqual(
      notifiers.map((n) => n.constructor.name),
      ['WebhookNotifier', 'ReadableLogNotifier'],
    );
    await (notifiers[1] as ReadableLogNotifier).send(event);
    assert.match(written[0], /notification: support-bot: ROLLED BACK/);
    assert.deepEqual(readableNotifiers(() => undefined, {})([]), []);
  });

  it('warns about upstreams nothing answers on, and only those', async () => {
    const live: Server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => live.listen(0, '127.0.0.1', r));
    const livePort = (live.address() as AddressInfo).port;
    const deadPort = await freePort();
    try {
      const config = resolveGatewayConfig({
        agents: {
          bot: {
            stable: 'v1',
            versions: { v1: `http://127.0.0.1:${livePort}`, v2: `http://127.0.0.1:${deadPort}` },
          },
        },
      });
      const started = Date.now();
      const dead = await deadUpstreams(config, 1_000);
      assert.ok(Date.now() - started < 5_000, 'probes are quick');
      assert.deepEqual(
        dead.map((d) => [d.agent, d.version, d.problem]),
        [['bot', 'v2', 'connection refused: nothing listens there']],
      );
      const lines = upstreamWarnings(dead, 'examples/gateway.yaml');
      assert.match(
        lines[0],
        new RegExp(`warning: bot v2 at http://127\\.0\\.0\\.1:${deadPort}/ does not answer`),
      );
      assert.match(lines[1], /Fix: .*examples\/gateway\.yaml/);
      assert.deepEqual(upstreamWarnings([], 'x.yaml'), []);
    } finally {
      await new Promise((r) => live.close(r));
    }
  });
});
