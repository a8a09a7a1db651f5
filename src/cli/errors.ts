// Exit codes and user-facing errors, handled once in main: 0 ok, 1 refused or failed, 2 bad usage
// or bad input, 3 accepted and still being carried out. A user mistake prints its message (which names the fix), never a stack trace.
import { CommanderError } from 'commander';
import type { PlanError } from '../plan';
import { CommandPendingError, RolloutError, SettingsError } from '../temporal/errors';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
/** Accepted and still being carried out (e.g. an abort waiting for the router): it will happen. */
export const EXIT_PENDING = 3;

/** Bad usage or input the command itself detected (a missing file, a bad agent name): exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
  readonly exitCode = EXIT_USAGE;
}

/** The command ran but its outcome is a failure (e.g. `start --wait` ended in a rollback): exit 1. */
export class FailedError extends Error {
  override name = 'FailedError';
  readonly exitCode = EXIT_FAILED;
}

export interface ErrorReport {
  exitCode: number;
  /** Printed to stderr; empty when commander already printed its own message. */
  message: string;
  json: { error: string; kind: string; problems?: { field: string; message: string }[] };
}

export function reportFor(err: unknown): ErrorReport {
  if (err instanceof CommanderError) {
    // Asked-for help or version: success. Everything else commander reports is bad usage.
    const ok =
      err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0;
    return {
      exitCode: ok ? EXIT_OK : EXIT_USAGE,
      message: '',
      json: { error: err.message.replace(/^error: /, ''), kind: 'usage' },
    };
  }
  if (isPlanError(err)) {
    return {
      exitCode: EXIT_USAGE,
      message: err.message,
      json: { error: err.message, kind: 'invalid_input', problems: err.problems },
    };
  }
  if (err instanceof UsageError || err instanceof SettingsError) {
    return { exitCode: EXIT_USAGE, message: err.message, json: { error: err.message, kind: 'usage' } };
  }
  if (err instanceof CommandPendingError) {
    return { exitCode: EXIT_PENDING, message: err.message, json: { error: err.message, kind: 'pending' } };
  }
  if (err instanceof RolloutError) {
    return { exitCode: EXIT_FAILED, message: err.message, json: { error: err.message, kind: kindOf(err) } };
  }
  if (err instanceof FailedError) {
    return { exitCode: EXIT_FAILED, message: err.message, json: { error: err.message, kind: 'failed' } };
  }
  // Not a user mistake: keep the stack available without dumping it on everyone.
  const e = err as Error;
  const stack = process.env.AGENT_CANARY_DEBUG
    ? `\n${e?.stack ?? ''}`
    : '\n  (set AGENT_CANARY_DEBUG=1 to see the stack)';
  return {
    exitCode: EXIT_FAILED,
    message: `unexpected error: ${e?.message ?? String(err)}${stack}`,
    json: { error: e?.message ?? String(err), kind: 'internal' },
  };
}

/**
 * Without loading ../plan (the plan parser and YAML, ~0.1 s) on every command: an error with
 * `problems` can only be a PlanError if ../plan was loaded to throw it, so it is required only then.
 */
function isPlanError(err: unknown): err is PlanError {
  if (!(err instanceof Error) || !('problems' in err)) return false;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return err instanceof (require('../plan') as typeof import('../plan')).PlanError;
}

function kindOf(err: RolloutError): string {
  // ServerUnreachableError -> server_unreachable, UnknownAgentError -> unknown_agent, ...
  return err.name
    .replace(/Error$/, '')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}
