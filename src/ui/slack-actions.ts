// Slack interactive buttons (approve, promote, dismiss, abort) on agent-canary's Slack messages
// (docs/gates.md). Slack POSTs `application/x-www-form-urlencoded` with a `payload` field, signed:
//   X-Slack-Request-Timestamp: Unix seconds;  X-Slack-Signature: "v0=" + hex HMAC-SHA256(signing
//   secret, `v0:${timestamp}:${raw body}`)
// A request is taken only with a valid signature less than 5 minutes old, from a Slack user on the
// agent's allow-list (user ids, or members of listed user groups, read with the Slack API). It is
// acknowledged at once (Slack waits 3 s), then carried out through the same commands as every
// client, the Slack user as the actor, and the message is updated through `response_url` with who
// did what (or why not).
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { describeFetchError, outboundFetch, type OutboundPolicy } from '../outbound';
import { sendCommand } from '../temporal/rollouts';
import { printable } from '../text/sanitize';
import { rolloutDetail } from './data';

export const SLACK_ACTIONS = ['approve', 'promote', 'dismiss', 'abort'] as const;
export type SlackAction = (typeof SLACK_ACTIONS)[number];
/** Button action ids: `agent-canary:<command>`; the value names the rollout. */
export const ACTION_PREFIX = 'agent-canary:';
const TOLERANCE_MS = 5 * 60_000;

const SlackId = z.string().regex(/^[A-Z0-9]{2,40}$/, 'a Slack id (U..., W..., S...)');

export const SlackActionsConfigSchema = z
  .object({
    /** The Slack app's signing secret (Basic Information > App Credentials). */
    signingSecret: z.string().min(16, 'a Slack signing secret is at least 16 characters').max(200),
    /** Per agent: who may press the buttons. An agent not listed: nobody. */
    allow: z
      .record(
        z.string().max(128),
        z
          .object({
            users: z.array(SlackId).max(500).default([]),
            groups: z.array(SlackId).max(50).default([]),
          })
          .strict(),
      )
      .refine((m) => Object.keys(m).length <= 1000, { message: 'at most 1000 agents' }),
    /** Bot token with usergroups:read, needed only when groups are listed. */
    botToken: z.string().min(1).max(500).optional(),
    /** The Slack Web API (tests point it elsewhere). */
    apiUrl: z.string().url().default('https://slack.com/api'),
    /** Where response_url may point. */
    responseHosts: z.array(z.string().min(1).max(255)).max(20).default(['.slack.com']),
  })
  .strict();
export type SlackActionsConfig = z.infer<typeof SlackActionsConfigSchema>;

const PayloadSchema = z.object({
  type: z.literal('block_actions'),
  user: z.object({
    id: SlackId,
    username: z.string().max(200).optional(),
    name: z.string().max(200).optional(),
  }),
  actions: z
    .array(z.object({ action_id: z.string().max(255), value: z.string().max(2000).optional() }))
    .min(1)
    .max(5),
  response_url: z.string().url().max(2048).optional(),
});
const ValueSchema = z.object({ workflowId: z.string().min(1).max(255) }).strict();

/** Slack's v0 signature check: fresh timestamp and a matching HMAC, compared in constant time. */
export function verifySlackSignature(
  secret: string,
  rawBody: string,
  timestamp: string | undefined,
  signature: string | undefined,
  now = Date.now(),
): boolean {
  if (!timestamp || !signature || !/^\d{1,12}$/.test(timestamp)) return false;
  if (Math.abs(now - Number(timestamp) * 1000) > TOLERANCE_MS) return false;
  const expected = Buffer.from(
    `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${rawBody}`).digest('hex')}`,
  );
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The answer to Slack's POST (sent at once) and the work that follows it. */
export interface SlackOutcome {
  status: number;
  body: string;
  followUp?: () => Promise<void>;
}

export function slackActionsHandler(client: Client, config: SlackActionsConfig, log: (l: string) => void) {
  const policy: OutboundPolicy = { allowHosts: config.responseHosts };

  const reply = async (responseUrl: string | undefined, message: Record<string, unknown>) => {
    if (!responseUrl) return;
    try {
      const res = await outboundFetch(responseUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(message),
        timeoutMs: 5_000,
        policy,
      });
      await res.arrayBuffer().catch(() => undefined);
      if (!res.ok) log(`slack: response_url answered HTTP ${res.status}`);
    } catch (err) {
      log(`slack: response_url not reached: ${describeFetchError(err, 5_000)}`);
    }
  };

  const inGroups = async (user: string, groups: string[]): Promise<boolean> => {
    if (groups.length === 0 || !config.botToken) return false;
    for (const group of groups) {
      try {
        const res = await outboundFetch(
          `${config.apiUrl.replace(/\/+$/, '')}/usergroups.users.list?usergroup=${encodeURIComponent(group)}`,
          { headers: { authorization: `Bearer ${config.botToken}` }, timeoutMs: 2_000 },
        );
        const answer = (await res.json().catch(() => ({}))) as { ok?: boolean; users?: unknown };
        if (answer.ok && Array.isArray(answer.users) && answer.users.includes(user)) return true;
      } catch (err) {
        log(`slack: user group ${group} not read: ${describeFetchError(err, 2_000)}`);
      }
    }
    return false;
  };

  return async (
    rawBody: string,
    headers: Record<string, string | string[] | undefined>,
  ): Promise<SlackOutcome> => {
    const ts = headers['x-slack-request-timestamp'];
    const sig = headers['x-slack-signature'];
    if (
      !verifySlackSignature(
        config.signingSecret,
        rawBody,
        typeof ts === 'string' ? ts : undefined,
        typeof sig === 'string' ? sig : undefined,
      )
    ) {
      return { status: 401, body: 'bad or stale Slack signature' };
    }
    let payload: z.infer<typeof PayloadSchema>;
    let action: SlackAction;
    let workflowId: string;
    try {
      payload = PayloadSchema.parse(JSON.parse(new URLSearchParams(rawBody).get('payload') ?? ''));
      const a = payload.actions[0];
      const name = a.action_id.startsWith(ACTION_PREFIX) ? a.action_id.slice(ACTION_PREFIX.length) : '';
      action = z.enum(SLACK_ACTIONS).parse(name);
      workflowId = ValueSchema.parse(JSON.parse(a.value ?? '')).workflowId;
    } catch {
      return { status: 400, body: 'not an agent-canary button' };
    }
    const who = printable(payload.user.username ?? payload.user.name ?? '', 60);
    const actor = `slack:${payload.user.id}${who ? ` (${who})` : ''}`;
    return {
      status: 200,
      body: '',
      followUp: async () => {
        let agent: string;
        try {
          agent = (await rolloutDetail(client, workflowId, { queryTimeoutMs: 2_000 })).agent;
        } catch (err) {
          await reply(payload.response_url, ephemeral(`${action} not taken: ${(err as Error).message}`));
          return;
        }
        const allowed = config.allow[agent];
        const ok =
          !!allowed &&
          (allowed.users.includes(payload.user.id) || (await inGroups(payload.user.id, allowed.groups)));
        if (!ok) {
          log(`slack: ${actor} is not allowed to ${action} ${agent}`);
          await reply(
            payload.response_url,
            ephemeral(`${action} not taken: you are not on the allow-list for ${agent}`),
          );
          return;
        }
        const input =
          action === 'abort'
            ? { by: actor, reason: `aborted from Slack by ${actor}` }
            : { by: actor, reason: `${action} from Slack` };
        try {
          const s = await sendCommand(client, agent, action, input as never, { workflowId });
          await reply(payload.response_url, {
            replace_original: true,
            text:
              `${agent}: ${action} by <@${payload.user.id}> (${actor}); now ${s.state.replace('_', ' ')}, ` +
              `stage ${s.stageIndex + 1}/${s.stageCount}, canary ${s.canaryPercent}%`,
          });
        } catch (err) {
          // Refused or not sent: said as it is (the commands' errors never claim what will not happen).
          await reply(payload.response_url, ephemeral(`${action} by ${actor}: ${(err as Error).message}`));
        }
      },
    };
  };
}

function ephemeral(text: string): Record<string, unknown> {
  return { response_type: 'ephemeral', replace_original: false, text };
}
