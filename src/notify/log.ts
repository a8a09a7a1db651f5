// Log notifier: one JSON line per event, for log pipelines and for `agent-canary dev` output.
import { dashboardRolloutUrl, rolloutUrl } from './format';
import type { Notifier, NotifyEvent } from './types';

export type LineWriter = (line: string) => void;

export const stdoutWriter: LineWriter = (line) => {
  process.stdout.write(`${line}\n`);
};

export class LogNotifier implements Notifier {
  readonly name = 'log';
  constructor(
    private readonly write: LineWriter = stdoutWriter,
    private readonly uiUrl?: string,
    private readonly namespace?: string,
    private readonly dashboardUrl?: string,
  ) {}

  async send(event: NotifyEvent): Promise<void> {
    const url = rolloutUrl(this.uiUrl, this.namespace, event.workflowId);
    const dashboardUrl = dashboardRolloutUrl(this.dashboardUrl, event.workflowId);
    this.write(
      JSON.stringify({
        msg: 'agent-canary notification',
        ...event,
        ...(url ? { url } : {}),
        ...(dashboardUrl ? { dashboardUrl } : {}),
      }),
    );
  }
}
