// Notifications link to the rollout's dashboard page (where Pause/Resume/Promote/Abort are) beside
// the Temporal Web UI link, from the worker's --dashboard-url / AGENT_CANARY_DASHBOARD_URL, which is
// validated before the worker starts.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createNotifiers, dashboardRolloutUrl, type NotifyEvent } from '../src/notify';
import { SettingsError } from '../src/temporal/errors';
import { resolveBackendSettings } from '../src/temporal/backends';

const event: NotifyEvent = {
  type: 'paused',
  agent: 'support-bot',
  stable: 'v1',
  canary: 'v2',
  workflowId: 'canary-support-bot',
  runId: 'run-1',
  stageIndex: 0,
  stageCount: 3,
  percent: 10,
  reason: 'too little data',
  by: 'agent-canary',
  at: '2026-12-01T12:00:00.000Z',
};
const PAGE = 'https://canary.example/dash/rollouts/canary-support-bot';
const gateway = { gatewayUrl: 'http://127.0.0.1:8080', gatewayToken: 'a-long-enough-admin-token' };

/** Receives one JSON body per request, as Slack or a webhook endpoint would. */
async function receiver() {
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      bodies.push(body);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, bodies, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('notifications link to the dashboard', () => {
  it('the dashboard page of a rollout, from a base URL with or without a trailing slash', () => {
    assert.equal(dashboardRolloutUrl('https://canary.example/dash/', 'canary-support-bot'), PAGE);
    assert.equal(dashboardRolloutUrl('https://canary.example/dash', 'canary-support-bot'), PAGE);
    assert.equal(
      dashboardRolloutUrl('http://127.0.0.1:8234', 'canary-a/b'),
      'http://127.0.0.1:8234/rollouts/canary-a%2Fb',
    );
    assert.equal(dashboardRolloutUrl(undefined, 'canary-support-bot'), undefined);
  });

  it('Slack, the signed webhook and the log carry both links', async () => {
    const rx = await receiver();
    const lines: string[] = [];
    try {
      const notifiers = createNotifiers(
        [
          { type: 'slack', webhookUrl: `${rx.url}/services/T/B/X` },
          { type: 'webhook', url: `${rx.url}/hook`, secret: 'a-long-enough-shared-secret' },
          { type: 'log' },
        ],
        {
          uiUrl: 'http://temporal-ui:8233',
          dashboardUrl: 'https://canary.example/dash/',
          namespace: 'default',
          log: (l) => lines.push(l),
        },
      );
      for (const n of notifiers) await n.send(event);
      const temporal = 'http://temporal-ui:8233/namespaces/default/workflows/canary-support-bot';

      const slack = JSON.parse(rx.bodies[0]) as { text: string; blocks: { text?: { text: string } }[] };
      const blocks = slack.blocks.map((b) => b.text?.text ?? '').join('\n');
      assert.ok(blocks.includes(`<${PAGE}|Open on the dashboard (pause, resume, promote, abort)>`), blocks);
      assert.ok(blocks.includes(`<${temporal}|Open the rollout in Temporal>`), blocks);
      assert.ok(slack.text.includes(PAGE), 'the fallback text has the link too');

      const hook = JSON.parse(rx.bodies[1]) as { url: string; dashboardUrl: string };
      assert.equal(hook.dashboardUrl, PAGE);
      assert.equal(hook.url, temporal);

      const log = JSON.parse(lines[0]) as { url: string; dashboardUrl: string };
      assert.equal(log.dashboardUrl, PAGE);
      assert.equal(log.url, temporal);
    } finally {
      await rx.close();
    }
  });

  it('no dashboard configured: no dashboard link, the Temporal link as before', async () => {
    const lines: string[] = [];
    const [log] = createNotifiers([{ type: 'log' }], { uiUrl: 'http://ui', log: (l) => lines.push(l) });
    await log.send(event);
    const parsed = JSON.parse(lines[0]) as Record<string, unknown>;
    assert.equal(parsed.dashboardUrl, undefined);
    assert.equal(parsed.url, 'http://ui/namespaces/default/workflows/canary-support-bot');
  });

  it('the worker setting: flag over environment, and only a plain http(s) URL', () => {
    assert.equal(
      resolveBackendSettings(
        { ...gateway, dashboardUrl: 'https://canary.example/dash' },
        { AGENT_CANARY_DASHBOARD_URL: 'http://other:8234' },
      ).dashboardUrl,
      'https://canary.example/dash',
    );
    assert.equal(
      resolveBackendSettings(gateway, { AGENT_CANARY_DASHBOARD_URL: 'http://127.0.0.1:8234' }).dashboardUrl,
      'http://127.0.0.1:8234',
    );
    for (const [bad, why] of [
      ['javascript:alert(1)', /dashboardUrl: must be an http:\/\/ or https:\/\/ URL/],
      ['not a url', /dashboardUrl: must be an http:\/\/ or https:\/\/ URL/],
      ['https://user:secret@canary.example', /dashboardUrl: must not carry credentials/],
    ] as const) {
      assert.throws(
        () => resolveBackendSettings({ ...gateway, dashboardUrl: bad }, {}),
        (err: Error) => {
          assert.ok(err instanceof SettingsError, String(err));
          assert.match(err.message, why);
          assert.ok(!err.message.includes('secret@'), 'the refused URL is not echoed');
          return true;
        },
      );
    }
  });
});
