// The package entry (package.json main/types/exports): the TypeScript client API for starting and
// steering rollouts from a team's own code, e.g. a deploy pipeline. Everything here is re-exported
// from the modules the CLI itself uses, so the CLI and this API cannot drift apart.
import {
  connectClient,
  resolveConnectionSettings,
  type Connected,
  type ConnectionFlags,
} from './temporal/connection';

export {
  COMMANDS,
  CommandInputError,
  DEFAULT_QUERY_TIMEOUT_MS,
  DEFAULT_UPDATE_TIMEOUT_MS,
  getStatus,
  hasEnded,
  isFinal,
  listRollouts,
  parseCommandInput,
  retryRollout,
  rolloutResult,
  sendCommand,
  startRollout,
  type Command,
  type CommandInput,
  type ListOptions,
  type RetryOptions,
  type RolloutSummary,
  type RpcOptions,
  type StartOptions,
  type Started,
} from './temporal/rollouts';
export {
  AlreadyRunningError,
  CommandPendingError,
  CommandRefusedError,
  NoWorkerError,
  RolloutError,
  ServerUnreachableError,
  SettingsError,
  UnknownAgentError,
} from './temporal/errors';
export {
  PlanError,
  parsePlan,
  resolvePlan,
  type PlanInput,
  type PlanProblem,
  type ResolvedPlan,
} from './plan';
export {
  TASK_QUEUE,
  WORKFLOW_TYPE,
  workflowIdFor,
  type Decision,
  type DismissInput,
  type ApproveInput,
  type ExtendInput,
  type RolloutResult,
  type RolloutState,
  type RolloutStatus,
} from '../workflows/messages';
export type { Connected, ConnectionFlags };

/**
 * Connects to Temporal the way the CLI does: flags over TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_API_KEY, the TLS variables and the Temporal config profile, then localhost:7233.
 *
 * @param flags - address, namespace, profile, API key or TLS files, each optional.
 * @returns the client to pass to the other functions, and its connection (close it when done).
 * @throws ServerUnreachableError naming the address when no server answers in time.
 */
export async function connect(flags: ConnectionFlags = {}): Promise<Connected> {
  return connectClient(resolveConnectionSettings(flags));
}
