// Slack incoming webhook: a message a person can act on at a glance (what happened, the numbers
// behind the verdict, who acted, a link to the rollout's dashboard page, where the actions are, and
// one to the Temporal Web UI).
import type { OutboundPolicy } from '../outbound';
import { DEFAULT_DELIVERY, postWithRetry, redact, type DeliveryPolicy } from './deliver';
import { dashboardRolloutUrl, formatMetricLine, headline, rolloutUrl, stageLine } from './format';
import type { Notifier, NotifyEvent, NotifyEventType } from './types';

const ICON: Record<NotifyEventType, string> = {
  started: ':rocket:',
  stage_advanced: ':arrow_up:',
  paused: ':double_vertical_bar:',
  resumed: ':arrow_forward:',
  rolled_back: ':rotating_light:',
  aborted: ':no_entry:',
  promoted: ':white_check_mark:',
  inconclusive_streak: ':grey_question:',
  paused_on_fail: ':warning:',
  dismissed: ':arrow_forward:',
  awaiting_approval: ':raised_hand:',
  approved: ':ok_hand:',
};

/** Slack mrkdwn treats &, < and > as markup. */
function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export interface SlackButton {
  type: 'button';
  text: { type: 'plain_text'; text: string };
  action_id: string;
  value: string;
  style?: 'primary' | 'danger';
  confirm?: Record<string, unknown>;
}

export interface SlackMessage {
  text: string;
  blocks: { type: string; text?: { type: string; text: string }; elements?: SlackButton[] }[];
}

/** Which buttons an event offers: what a person would decide at that point (docs/gates.md). */
const BUTTONS: Partial<Record<NotifyEventType, ('approve' | 'promote' | 'dismiss' | 'abort')[]>> = {
  paused_on_fail: ['dismiss', 'promote', 'abort'],
  awaiting_approval: ['approve', 'abort'],
  paused: ['promote', 'abort'],
  inconclusive_streak: ['promote', 'abort'],
  started: ['abort'],
  stage_advanced: ['abort'],
  approved: ['abort'],
  dismissed: ['abort'],
};
const LABEL = { approve: 'Approve stage', promote: 'Promote', dismiss: 'Dismiss failure', abort: 'Abort' };

/** The actions block for an event, or undefined when it offers none. Action ids: agent-canary:<cmd>. */
export function slackButtons(event: NotifyEvent): SlackMessage['blocks'][number] | undefined {
  const commands = BUTTONS[event.type];
  if (!commands) return undefined;
  const value = JSON.stringify({ workflowId: event.workflowId });
  return {
    type: 'actions',
    elements: commands.map((c) => ({
      type: 'button',
      text: { type: 'plain_text', text: LABEL[c] },
      action_id: `agent-canary:${c}`,
      value,
      ...(c === 'approve' ? { style: 'primary' as const } : {}),
      ...(c === 'abort'
        ? {
            style: 'danger' as const,
            confirm: {
              title: { type: 'plain_text', text: 'Abort the rollout?' },
              text: { type: 'plain_text', text: 'All traffic goes back to stable.' },
              confirm: { type: 'plain_text', text: 'Abort' },
              deny: { type: 'plain_text', text: 'Keep it' },
            },
          }
        : {}),
    })),
  };
}

export function slackMessage(
  event: NotifyEvent,
  url: string | undefined,
  dashboardUrl?: string,
  buttons = false,
): SlackMessage {
  const title = `${ICON[event.type]} *${esc(headline(event))}*`;
  const lines = [`${esc(stageLine(event))} · by ${esc(event.by || 'unknown')}`];
  if (event.reason) lines.push(`reason: ${esc(event.reason)}`);
  const blocks: SlackMessage['blocks'] = [
    { type: 'section', text: { type: 'mrkdwn', text: `${title}\n${lines.join('\n')}` } },
  ];
  if (event.verdict) {
    const v = event.verdict;
    const metricLines = v.metrics.map((m) => `• ${esc(formatMetricLine(m))}`);
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: [
          `*verdict: ${v.verdict}* (${v.judge})${v.reason ? ` ${esc(v.reason)}` : ''}`,
          ...metricLines,
        ].join('\n'),
      },
    });
  }
  const links = [
    dashboardUrl ? `<${dashboardUrl}|Open on the dashboard (pause, resume, promote, abort)>` : undefined,
    url ? `<${url}|Open the rollout in Temporal>` : undefined,
  ].filter(Boolean);
  if (links.length) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: links.join(' · ') } });
  const actions = buttons ? slackButtons(event) : undefined;
  if (actions) blocks.push(actions);
  // `text` is what notifications and screen readers show; keep it complete without the blocks.
  const text = [headline(event), stageLine(event), event.reason, dashboardUrl, url]
    .filter(Boolean)
    .join(' | ');
  return { text, blocks };
}

export interface SlackOptions {
  webhookUrl: string;
  uiUrl?: string;
  dashboardUrl?: string;
  namespace?: string;
  delivery?: DeliveryPolicy;
  /** Where calls may go (src/outbound.ts). */
  outbound?: OutboundPolicy;
  /** Interactive buttons (the plan's `buttons: true`). */
  buttons?: boolean;
}

export class SlackNotifier implements Notifier {
  readonly name: string;
  constructor(private readonly opts: SlackOptions) {
    this.name = `slack ${redact(opts.webhookUrl)}`;
  }

  async send(event: NotifyEvent): Promise<void> {
    const url = rolloutUrl(this.opts.uiUrl, this.opts.namespace, event.workflowId);
    const page = dashboardRolloutUrl(this.opts.dashboardUrl, event.workflowId);
    const body = JSON.stringify(slackMessage(event, url, page, this.opts.buttons ?? false));
    await postWithRetry(
      this.opts.webhookUrl,
      body,
      () => ({}),
      this.opts.delivery ?? DEFAULT_DELIVERY,
      this.opts.outbound,
    );
  }
}
