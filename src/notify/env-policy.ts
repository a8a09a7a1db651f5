// Which environment variables of the worker a plan may name (secretEnv, webhookUrlEnv). A plan is
// written by whoever can start a rollout; the worker's environment also holds its own credentials
// (Temporal API key, gateway admin token). Only variables under one prefix are readable by plans, so
// an operator decides what a plan can reach by what they export under it. Pure: the plan validator
// (and so the workflow's input gate) and the notifiers apply the same rule.

export const NOTIFY_ENV_PREFIX = 'AGENT_CANARY_NOTIFY_';

const NAME = /^[A-Z0-9_]+$/;

/** Why a plan may not name this variable, or undefined when it may. */
export function notifyEnvProblem(name: string): string | undefined {
  if (!NAME.test(name) || name.length > 128) {
    return 'must be an environment variable name (A-Z, 0-9, _)';
  }
  if (!name.startsWith(NOTIFY_ENV_PREFIX) || name.length === NOTIFY_ENV_PREFIX.length) {
    return `must start with ${NOTIFY_ENV_PREFIX} (plans may only read the worker's variables under that prefix)`;
  }
  return undefined;
}
