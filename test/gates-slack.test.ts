// Approvals from Slack on the dev server: the Slack notification (posted to a local receiver standing
// in for Slack's incoming webhook) carries the buttons; a button press is posted back the way Slack
// posts it (form-encoded `payload`, X-Slack-Request-Timestamp, X-Slack-Signature v0) to the
// dashboard's /slack/actions, checked against the agent's allow-list (a user group read from a
// local stand-in for Slack's Web API), carried out as the Slack user, and the message updated.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createNotifiers } from '../src/notify';
import { resolvePlan } from '../src/plan';
import { startRollout } from '../src/temporal/rollouts';
import { startDashboard } from '../src/ui/server';
import { statusQuery, workflowIdFor, type RolloutStatus } from '../workflows/messages';
import { fakeDeps } from './fakes';
import { eventually, testEnv, uniqueName, withWorker } from './harness';

const SIGNING = 'slack-signing-secret-0123456789';

interface Received {
  path: string;
  body: Record<string, unknown>;
}

/** One local server for Slack's three roles: incoming webhook, response_url, Web API. */
async function fakeSlack(groupMembers: Record<string, string[]>) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/api/usergroups.users.list') {
        const ok = req.headers.authorization === 'Bearer xoxb-test';
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok, users: groupMembers[url.searchParams.get('usergroup') ?? ''] ?? [] }));
        return;
      }
      received.push({ path: url.pathname, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') });
      res.writeHead(200);
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { received, base, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** Posts a button press the way Slack does. */
async function press(
  url: string,
  payload: unknown,
  opts: { secret?: string; timestamp?: number } = {},
): Promise<number> {
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const ts = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
  const sig = `v0=${createHmac('sha256', opts.secret ?? SIGNING)
    .update(`v0:${ts}:${body}`)
    .digest('hex')}`;
  const res = await fetch(`${url}/slack/actions`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': ts,
      'x-slack-signature': sig,
    },
    body,
  });
  await res.arrayBuffer();
  return res.status;
}

describe('approvals from Slack (dev server, real HTTP)', function () {
  this.timeout(120_000);

  it('buttons on the message; a signed press from an allowed user approves as that user; others are refused', async () => {
    const slack = await fakeSlack({ S0OPS: ['U0BOB'] });
    const { deps, metrics, router } = fakeDeps();
    const { client } = testEnv();
    const agent = uniqueName('slack');
    metrics.set(agent, { rps: 200 });
    const dashboard = await startDashboard({
      client,
      token: 'dashboard-token-0123456789',
      slack: {
        signingSecret: SIGNING,
        allow: { [agent]: { users: ['U0ANA'], groups: ['S0OPS'] } },
        botToken: 'xoxb-test',
        apiUrl: `${slack.base}/api`,
        responseHosts: ['127.0.0.1'],
      },
      log: () => undefined,
    });
    const status = () => client.workflow.getHandle(workflowIdFor(agent)).query(statusQuery);
    const until = (pred: (s: RolloutStatus) => boolean, what: string) =>
      eventually(status, pred, { what, timeoutMs: 30_000 });
    try {
      await withWorker({ ...deps, notifiers: (t) => createNotifiers(t) }, async () => {
        const started = await startRollout(
          client,
          resolvePlan({
            agent,
            stable: 'v1',
            canary: 'v2',
            stages: [{ weight: 10, observe: '1s', approval: true }, { weight: 100 }],
            analysis: { interval: '300ms', minSamples: 20, judge: 'thresholds', failureLimit: 1 },
            leaseTtl: '30s',
            notify: [{ type: 'slack', webhookUrl: `${slack.base}/incoming`, buttons: true }],
          }),
        );
        await until((s) => !!s.approval?.waitingSince, 'waiting for approval');
        const message = await eventually(
          () =>
            slack.received.find(
              (r) => r.path === '/incoming' && String(r.body.text).includes('waits for approval'),
            ),
          (m) => m !== undefined,
          { what: 'the awaiting_approval message' },
        );
        const blocks = message!.body.blocks as {
          type: string;
          elements?: { action_id: string; value: string }[];
        }[];
        const buttons = blocks.find((b) => b.type === 'actions')!.elements!;
        assert.deepEqual(
          buttons.map((b) => b.action_id),
          ['agent-canary:approve', 'agent-canary:abort'],
        );
        const approve = buttons[0];
        const payload = (user: string, name: string, responsePath: string) => ({
          type: 'block_actions',
          user: { id: user, username: name },
          actions: [{ action_id: approve.action_id, value: approve.value }],
          response_url: `${slack.base}${responsePath}`,
        });

        // Forged, stale: refused before anything is read.
        assert.equal(
          await press(dashboard.url, payload('U0ANA', 'ana', '/r0'), { secret: 'wrong-secret-0123456789' }),
          401,
        );
        const stale = Math.floor(Date.now() / 1000) - 600;
        assert.equal(await press(dashboard.url, payload('U0ANA', 'ana', '/r0'), { timestamp: stale }), 401);
        // Signed, but not on the allow-list: acknowledged, not taken, told so.
        assert.equal(await press(dashboard.url, payload('U0EVE', 'eve', '/r1')), 200);
        const told = await eventually(
          () => slack.received.find((r) => r.path === '/r1'),
          (r) => r !== undefined,
          { what: 'the refusal on response_url' },
        );
        assert.match(String(told!.body.text), /approve not taken: you are not on the allow-list/);
        assert.equal(told!.body.response_type, 'ephemeral');
        assert.equal((await status()).approval!.approvedBy, null);
        // The dashboard offers its Approve button too (same command).
        const detail = (await (
          await fetch(`${dashboard.url}/api/rollouts/${workflowIdFor(agent)}`)
        ).json()) as {
          commands: string[];
        };
        assert.ok(detail.commands.includes('approve'), detail.commands.join(', '));
        // A member of an allowed user group: approved as that Slack user; the message says who.
        assert.equal(await press(dashboard.url, payload('U0BOB', 'bob', '/r2')), 200);
        const result = await started.result();
        assert.equal(result.state, 'promoted');
        assert.equal(router.splits.get(agent)?.stable, 'v2');
        const s = await status();
        const approved = s.decisions.find((d) => d.action === 'approved')!;
        assert.equal(approved.by, 'slack:U0BOB (bob)');
        const updated = await eventually(
          () => slack.received.find((r) => r.path === '/r2'),
          (r) => r !== undefined,
          { what: 'the updated message' },
        );
        assert.equal(updated!.body.replace_original, true);
        assert.match(String(updated!.body.text), /approve by <@U0BOB> \(slack:U0BOB \(bob\)\)/);
        assert.equal(
          s.decisions.filter((d) => d.action === 'approved').length,
          1,
          'refused presses did nothing',
        );
      });
    } finally {
      await dashboard.close();
      await slack.close();
    }
  });
});
