import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { Command } from 'commander';
import { startDashboard } from '../../ui/server';
import { SlackActionsConfigSchema, type SlackActionsConfig } from '../../ui/slack-actions';
import { uiUrl, withClient } from '../context';
import { UsageError } from '../errors';
import { portFlag } from '../flags';
import { problemsFromZod } from '../../text/zod-problems';

interface UiOpts {
  host: string;
  port: string;
  token?: string;
  temporalUiUrl?: string;
  slack?: string;
}

/**
 * The Slack buttons' settings: the allow-list (and apiUrl, responseHosts) from the file, the signing
 * secret and bot token from the environment, so that no secret sits in a file that gets shared.
 */
function slackConfig(file: string): SlackActionsConfig {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`--slack ${file}: ${(err as Error).message}`);
  }
  const parsed = SlackActionsConfigSchema.safeParse({
    ...(typeof raw === 'object' && raw !== null ? raw : {}),
    signingSecret: process.env.AGENT_CANARY_SLACK_SIGNING_SECRET ?? '',
    ...(process.env.AGENT_CANARY_SLACK_BOT_TOKEN
      ? { botToken: process.env.AGENT_CANARY_SLACK_BOT_TOKEN }
      : {}),
  });
  if (!parsed.success) {
    const problems = problemsFromZod(parsed.error).map((p) =>
      p.field.split('.')[0] === 'signingSecret'
        ? `AGENT_CANARY_SLACK_SIGNING_SECRET: ${p.message}`
        : `${file}: ${p.field}: ${p.message}`,
    );
    throw new UsageError(`--slack: ${problems.join('; ')}`);
  }
  return parsed.data;
}

export function register(program: Command): void {
  program
    .command('ui')
    .description(
      'the rollout dashboard in your browser: outcomes, stage timeline, charts, decisions, actions',
    )
    .option('--host <address>', 'address to listen on (loopback only unless you set another)', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 picks a free one)', '8234')
    .option(
      '--token <token>',
      'token the buttons need (env AGENT_CANARY_UI_TOKEN; default: a new random one)',
    )
    .option('--temporal-ui-url <url>', 'the Temporal Web UI, for links (env TEMPORAL_UI_URL)')
    .option(
      '--slack <file>',
      'Slack buttons at POST /slack/actions: YAML/JSON {allow: {<agent>: {users, groups}}}; secrets from env AGENT_CANARY_SLACK_SIGNING_SECRET, AGENT_CANARY_SLACK_BOT_TOKEN',
    )
    .action(async (o: UiOpts, cmd: Command) => {
      const port = portFlag('--port', o.port);
      const token = o.token ?? process.env.AGENT_CANARY_UI_TOKEN ?? randomBytes(18).toString('base64url');
      if (token.length < 16) throw new UsageError('--token must be at least 16 characters');
      const temporalUiUrl = o.temporalUiUrl ?? uiUrl();
      if (temporalUiUrl && !/^https?:\/\/[^\s]+$/.test(temporalUiUrl))
        throw new UsageError(`--temporal-ui-url must be an http(s) URL, got "${temporalUiUrl}"`);
      const slack = o.slack ? slackConfig(o.slack) : undefined;
      await withClient(cmd, async ({ client, address, namespace }) => {
        const dashboard = await startDashboard({
          client,
          token,
          host: o.host,
          port,
          temporalUiUrl,
          tokenHint:
            (o.token ?? process.env.AGENT_CANARY_UI_TOKEN)
              ? 'use the link `agent-canary ui` printed, or the token it was given (--token or AGENT_CANARY_UI_TOKEN)'
              : 'use the link this `agent-canary ui` printed: each start without --token makes a new token',
          ...(slack ? { slack } : {}),
        }).catch((err: NodeJS.ErrnoException) => {
          throw new UsageError(
            `could not listen on ${o.host}:${port}: ${err.code ?? err.message}\n` +
              '  Fix: stop what uses the port, or pass --port (0 picks a free one).',
          );
        });
        process.stdout.write(
          `dashboard:  ${dashboard.urlWithToken}\n` +
            `            (the link carries the token the buttons need; reading needs none)\n` +
            `Temporal:   ${address} (namespace ${namespace})\nCtrl-C to stop.\n`,
        );
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await dashboard.close();
      });
    });
}
