// What `dev` and `worker` print for people: a line per rollout event, and (dev) a warning for each
// gateway upstream that nothing answers on.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deadUpstreams, eventsPrintedNotifiers, upstreamWarnings } from '../src/cli/dev-output';
import { resolveGatewayConfig } from '../src/gateway/config';
import { freePort } from '../src/temporal/devserver';
import { rolloutEventLine, RolloutEventSchema, type RolloutEvent } from '../src/temporal/rollout-events';

const event: RolloutEvent = {
  action: 'rolled_back',
  agent: 'support-bot',
  stable: 'v1',
  canary: 'v2',
  workflowId: 'canary-support-bot',
  stageIndex: 0,
  stageCount: 3,
  percent: 0,
  reason:
    'canary unhealthy: error_rate: worse, canary 0.15 vs stable 0.01 (LR 620, p=1.4e-7; errors 17/112 vs 4/512)',
  by: 'agent-canary',
  at: '2026-01-01T12:03:04.000Z',
};

describe('dev and worker output for people', () => {
  it('a rollout event is one line with the why in plain words, no statistics, no JSON', () => {
    assert.equal(
      rolloutEventLine(event),
      '2026-01-01 12:03:04 support-bot v1 -> v2: ROLLED BACK, all traffic on v1: canary unhealthy: ' +
        'error_rate: worse, canary 0.15 vs stable 0.01 (errors 17/112 vs 4/512)',
    );
    const page = (id: string) => `http://127.0.0.1:8234/rollouts/${id}`;
    const lines = {
      started: rolloutEventLine({ ...event, action: 'started', reason: 'rollout started', percent: 0 }, page),
      stage: rolloutEventLine({
        ...event,
        action: 'stage_started',
        reason: 'stage 2',
        stageIndex: 1,
        percent: 25,
      }),
      paused: rolloutEventLine({
        ...event,
        action: 'paused',
        by: 'alice',
        reason: 'traces\u001b[31m',
        percent: 25,
      }),
      promoted: rolloutEventLine({
        ...event,
        action: 'promoted',
        reason: 'all stages healthy',
        percent: 100,
      }),
      aborted: rolloutEventLine({ ...event, action: 'aborted', by: 'bob', reason: 'wrong build' }),
      failed: rolloutEventLine({
        ...event,
        action: 'check_failed',
        percent: 20,
        reason: 'check failed (1/2): error_rate: 0.0833 > max 0.05',
      }),
      held: rolloutEventLine({
        ...event,
        action: 'paused_on_fail',
        percent: 10,
        reason: 'error_rate failed',
      }),
    };
    assert.match(
      lines.started,
      /support-bot v1 -> v2: started, 3 stages \(http:\/\/127\.0\.0\.1:8234\/rollouts\/canary-support-bot\)$/,
    );
    assert.match(lines.stage, /: stage 2 of 3: canary at 25%$/, "the rollout's own stage write says no more");
    // An operator's text is theirs, but never a terminal escape.
    assert.match(lines.paused, /: paused by alice at 25% \(checks and rollback go on\): traces \[31m$/);
    assert.match(lines.failed, /: check failed at 20% \(1\/2\): error_rate: 0\.0833 > max 0\.05$/);
    assert.match(lines.promoted, /: PROMOTED: v2 is the stable now$/);
    assert.match(lines.aborted, /: aborted by bob, all traffic on v1: wrong build$/);
    assert.match(
      lines.held,
      /: paused on a failed check at 10%, waits for dismiss, promote or abort: error_rate failed$/,
    );
    for (const line of Object.values(lines)) {
      assert.ok(!line.includes('\n') && !line.includes('\u001b') && !line.includes('{'), line);
    }
    // What the workflow logs is checked at the boundary: a malformed entry is no event.
    assert.equal(RolloutEventSchema.safeParse({ ...event, action: 'exploded' }).success, false);
  });

  it("leaves the plan's log targets out (each event is a line already) and keeps the other channels", () => {
    const notifiers = eventsPrintedNotifiers({})([
      { type: 'log' },
      { type: 'webhook', url: 'https://hooks.example/x', secret: 's'.repeat(20) },
    ] as never);
    assert.deepEqual(
      notifiers.map((n) => n.constructor.name),
      ['WebhookNotifier'],
    );
    assert.deepEqual(eventsPrintedNotifiers({})([]), []);
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
