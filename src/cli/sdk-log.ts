// The Temporal SDK's and its Rust core's own log lines, as `dev`, `demo` and `worker` print them.
// A newcomer reads a multi-line "[WARN] Workflow failed { ... }" after every rollback (a rollback
// closes the workflow as Failed on purpose) as the tool breaking: the rollout's own events are told
// by our lines, so the SDK's are shown only at the level asked for (AGENT_CANARY_LOG_LEVEL), one
// line each, without their metadata (task tokens, payloads) below DEBUG.
import type { Logger, LogMetadata } from '@temporalio/common';
import { DefaultLogger, type LogLevel, type RuntimeOptions } from '@temporalio/worker';
import { ROLLOUT_EVENT_KEY, RolloutEventSchema, type RolloutEvent } from '../temporal/rollout-events';
import { printable } from '../text/sanitize';
import { UsageError } from './errors';

const LEVELS: readonly LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];
export const LOG_LEVEL_VAR = 'AGENT_CANARY_LOG_LEVEL';

/** The level from AGENT_CANARY_LOG_LEVEL (any case), or the command's default. */
export function sdkLogLevel(fallback: LogLevel, env: NodeJS.ProcessEnv = process.env): LogLevel {
  const raw = env[LOG_LEVEL_VAR];
  if (raw === undefined || raw === '') return fallback;
  const level = raw.trim().toUpperCase() as LogLevel;
  if (!LEVELS.includes(level)) {
    throw new UsageError(
      `${LOG_LEVEL_VAR} must be one of ${LEVELS.map((l) => l.toLowerCase()).join(', ')}, got "${printable(raw, 40)}"`,
    );
  }
  return level;
}

/** One line per SDK or core log entry: "temporal WARN: <message>", metadata only at DEBUG and below. */
export function sdkLogLine(level: LogLevel, message: string, meta?: Record<string, unknown>): string {
  const verbose = level === 'DEBUG' || level === 'TRACE';
  let extra = '';
  if (verbose && meta && Object.keys(meta).length) {
    try {
      extra = ` ${JSON.stringify(meta)}`;
    } catch {
      extra = '';
    }
  }
  return `temporal ${level}: ${printable(message, 500)}${printable(extra, 2_000)}`;
}

/**
 * Runtime options that print the SDK's and core's lines at `level` and above, one line each, and,
 * when `events` is given, every rollout event the workflows log as one line for people, whatever
 * the level (src/temporal/rollout-events.ts).
 */
export function sdkLogging(
  level: LogLevel,
  write: (line: string) => void,
  events?: (event: RolloutEvent) => void,
): Pick<RuntimeOptions, 'logger' | 'telemetryOptions'> {
  const sdk = new DefaultLogger(level, (entry) =>
    write(sdkLogLine(entry.level, entry.message, entry.meta as Record<string, unknown> | undefined)),
  );
  return {
    logger: events ? new RolloutEventLogger(sdk, events) : sdk,
    // Core's lines come through the same logger (no colour codes, no second format).
    telemetryOptions: { logging: { filter: { core: level, other: level }, forward: {} } },
  };
}

/** Hands the workflows' rollout events to `events`; every other entry to the SDK's logger. */
class RolloutEventLogger implements Logger {
  constructor(
    private readonly sdk: Logger,
    private readonly events: (event: RolloutEvent) => void,
  ) {}
  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    const carried = meta?.[ROLLOUT_EVENT_KEY];
    if (carried !== undefined) {
      const event = RolloutEventSchema.safeParse(carried);
      if (event.success) return this.events(event.data);
    }
    this.sdk.log(level, message, meta);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}
