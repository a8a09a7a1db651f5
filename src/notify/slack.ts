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

export interface SlackMessage {
  text: string;
  blocks: { type: string; text?: { type: string; text: string } }[];
}

export function slackMessage(
  event: NotifyEvent,
  url: string | undefined,
  dashboardUrl?: string,
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
}

export class SlackNotifier implements Notifier {
  readonly name: string;
  constructor(private readonly opts: SlackOptions) {
    this.name = `slack ${redact(opts.webhookUrl)}`;
  }

  async send(event: NotifyEvent): Promise<void> {
    const url = rolloutUrl(this.opts.uiUrl, this.opts.namespace, event.workflowId);
    const page = dashboardRolloutUrl(this.opts.dashboardUrl, event.workflowId);
    const body = JSON.stringify(slackMessage(event, url, page));
    await postWithRetry(
      this.opts.webhookUrl,
      body,
      () => ({}),
      this.opts.delivery ?? DEFAULT_DELIVERY,
      this.opts.outbound,
    );
  }
}
