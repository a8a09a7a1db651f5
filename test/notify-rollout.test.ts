// Notifications from a real rollout: the worker builds notifiers with createNotifiers (as the worker
// command does), a sick canary is rolled back, and a broken channel is recorded, not blocking.
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createNotifiers,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  verifySignature,
  type NotifyEvent,
} from '../src/notify';
import { resolvePlan } from '../src/plan';
import { getStatus, startRollout } from '../src/temporal/rollouts';
import { BROKEN, fakeDeps } from './fakes';
import { eventually, testEnv, uniqueName, withWorker } from './harness';

const SECRET = 'rollout-test-secret-0123456789';

async function receiver(status: number) {
  const received: { headers: IncomingHttpHeaders; body: string; url: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, body, url: req.url ?? '' });
      res.statusCode = status;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('notifications from a real rollout', function () {
  this.timeout(120_000);

  it('signed webhook events with the verdict numbers; a failing Slack endpoint is retried, given up and recorded in status', async () => {
    const { client, namespace } = testEnv();
    const ok = await receiver(200);
    const down = await receiver(500);
    try {
      const agent = uniqueName('notify');
      const { deps, metrics, router } = fakeDeps();
      deps.notifiers = (targets) => createNotifiers(targets, { uiUrl: 'http://ui.test', namespace });
      metrics.set(agent, { rps: 200, canary: BROKEN });
      const plan = resolvePlan({
        agent,
        stable: 'v1',
        canary: 'v2',
        stages: [{ weight: 10, observe: '30s' }, { weight: 100 }],
        analysis: { interval: '300ms', judge: 'thresholds', minSamples: 10, failureLimit: 2 },
        leaseTtl: '5s',
        notify: [
          { type: 'webhook', url: `${ok.url}/hooks/canary`, secret: SECRET },
          { type: 'slack', webhookUrl: `${down.url}/services/T/B/X` },
        ],
      });
      await withWorker(deps, async () => {
        const started = await startRollout(client, plan);
        const result = await started.result();
        assert.equal(result.state, 'rolled_back');
        assert.equal(router.canaryWeight(agent), 0);

        const events = await eventually(
          () =>
            ok.received.map((r) => ({ ...r, event: JSON.parse(r.body) as NotifyEvent & { url?: string } })),
          (evs) => evs.some((e) => e.event.type === 'rolled_back'),
          { what: 'the rolled_back webhook' },
        );
        for (const e of events) {
          assert.ok(
            verifySignature({
              secret: SECRET,
              body: e.body,
              timestamp: String(e.headers[HEADER_TIMESTAMP]),
              signature: String(e.headers[HEADER_SIGNATURE]),
            }),
            `bad signature on ${e.event.type}`,
          );
        }
        assert.equal(events[0].event.type, 'started');
        const rb = events.find((e) => e.event.type === 'rolled_back')!.event;
        assert.equal(rb.agent, agent);
        assert.equal(rb.url, `http://ui.test/namespaces/${namespace}/workflows/canary-${agent}`);
        assert.equal(rb.verdict?.verdict, 'fail');
        const err = rb.verdict!.metrics.find((m) => m.metric === 'error_rate')!;
        assert.ok(err.canary! > 0.2 && err.stable! < 0.05, JSON.stringify(err));

        // Slack got its bounded attempts per event and gave up; the failures are in the status.
        const status = await eventually(
          () => getStatus(client, agent),
          (s) => s.notifyFailures.some((f) => f.event === 'rolled_back'),
          { what: 'the failed Slack delivery in status' },
        );
        const f = status.notifyFailures.find((x) => x.event === 'rolled_back')!;
        assert.match(f.target, /^slack /);
        assert.doesNotMatch(
          f.target + f.error,
          /services\/T\/B\/X/,
          'the Slack secret path stays out of status',
        );
        assert.match(f.error, /HTTP 500/);
        assert.ok(
          down.received.length >= 2 && down.received.length <= 3 * 2,
          `${down.received.length} Slack attempts`,
        );
      });
    } finally {
      await ok.close();
      await down.close();
    }
  });
});
