// Failures a user can fix, raised by the Temporal-facing modules (connection, rollouts). Each
// message says what went wrong and how to fix it; the CLI maps them to exit codes.

/** A refusal or failure at run time (exit 1): server unreachable, unknown agent, command refused. */
export class RolloutError extends Error {
  override name = 'RolloutError';
}

/** Bad settings or input (exit 2): a missing TLS file, an unknown profile, a bad plan. */
export class SettingsError extends Error {
  override name = 'SettingsError';
}

export class ServerUnreachableError extends RolloutError {
  override name = 'ServerUnreachableError';
  constructor(
    readonly address: string,
    detail: string,
  ) {
    super(
      `cannot reach the Temporal server at ${address} (${detail}).\n` +
        `  Fix: start one with \`agent-canary dev\`, or point to yours with TEMPORAL_ADDRESS=host:port (or --address).`,
    );
  }
}

export class UnknownAgentError extends RolloutError {
  override name = 'UnknownAgentError';
  constructor(
    readonly agent: string,
    readonly workflowId: string,
    namespace: string,
  ) {
    super(
      `no rollout found for agent "${agent}" (workflow ${workflowId} in namespace ${namespace}).\n` +
        `  Fix: check the name with \`agent-canary list\`, or start one with \`agent-canary start -f <your plan>\`.`,
    );
  }
}

export class AlreadyRunningError extends RolloutError {
  override name = 'AlreadyRunningError';
  constructor(
    readonly agent: string,
    readonly workflowId: string,
  ) {
    super(
      `a rollout for agent "${agent}" is already running (workflow ${workflowId}).\n` +
        `  Fix: wait for it to finish, or stop it with \`agent-canary abort ${agent} --reason "..."\`.`,
    );
  }
}

export class CommandRefusedError extends RolloutError {
  override name = 'CommandRefusedError';
}

/** No worker polls the task queue: nothing was sent, so nothing will happen (exit 1). */
export class NoWorkerError extends RolloutError {
  override name = 'NoWorkerError';
}

/**
 * The command was accepted (or queued) and is still being carried out: it will happen, but has not
 * yet (exit 3, so scripts can tell it from done and from refused).
 */
export class CommandPendingError extends RolloutError {
  override name = 'CommandPendingError';
}
