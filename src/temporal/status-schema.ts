// The status query's answer as zod checks it when it arrives as JSON over the HTTP API (the SDK
// path trusts its own data converter). Objects are loose: a field a newer workflow adds passes
// through, so --json prints what the SDK path prints. The type check below keeps it in step with
// RolloutStatus (src/contract/types.ts).
import { z } from 'zod';
import { DECISION_ACTIONS, ROLLOUT_STATES, type RolloutStatus } from '../contract';

const iso = z.string().max(40);
const text = z.string().max(20_000);
const count = z.number().int().min(0);
const percent = z.number().min(0).max(100);

/** One decision of the ledger; also what each rollout event line carries (rollout-events.ts). */
export const DecisionSchema = z
  .object({
    at: iso,
    action: z.enum(DECISION_ACTIONS),
    by: text,
    reason: text,
    stageIndex: count,
    percent,
  })
  .loose();

const MetricSchema = z
  .object({
    // Custom metrics have their own names: any name here, the renderer prints it.
    metric: z.string().max(200),
    stable: z.number().nullable(),
    canary: z.number().nullable(),
    stableSamples: z.number(),
    canarySamples: z.number(),
    status: z.enum(['pass', 'fail', 'nodata', 'inconclusive']),
    reason: text,
    pValue: z.number().optional(),
    stats: z
      .object({
        llr: z.array(z.number()).max(16),
        canaryBad: z.number().optional(),
        guards: z
          .array(z.object({ llr: z.number(), bad: z.number().optional(), within: z.boolean() }).loose())
          .max(4)
          .optional(),
        blocked: z.boolean().optional(),
        detail: text,
      })
      .loose()
      .optional(),
  })
  .loose();

const LastAnalysisSchema = z
  .object({
    verdict: z.enum(['pass', 'fail', 'inconclusive']),
    judge: z.enum(['thresholds', 'statistical']),
    reason: text,
    metrics: z.array(MetricSchema).max(100),
    at: iso,
    windowStart: iso,
    failedChecks: count,
    inconclusiveStreak: count,
  })
  .loose();

const State = z.enum(ROLLOUT_STATES);

export const RolloutStatusSchema = z
  .object({
    asOf: iso.optional(),
    workflowId: z.string().max(1000),
    agent: z.string().max(200),
    stable: z.string().max(200),
    canary: z.string().max(200),
    state: State,
    stageIndex: count,
    stageCount: count,
    canaryPercent: percent,
    stages: z
      .array(z.object({ weight: percent, observeMs: z.number().min(0), shadow: percent.optional() }).loose())
      .max(100),
    stageStartedAt: iso,
    observedMs: z.number(),
    remainingMs: z.number(),
    observing: z.boolean().optional(),
    startedAt: iso,
    deadlineAt: iso,
    failedChecks: count,
    failureLimit: count,
    inconclusiveStreak: count,
    lastAnalysis: LastAnalysisSchema.nullable(),
    decisions: z.array(DecisionSchema).max(100_000),
    notifyFailures: z
      .array(z.object({ at: iso, event: text, target: text, error: text }).loose())
      .max(100_000),
    extendedMs: z.number().optional(),
    pausedOnFail: z
      .object({
        at: iso,
        metrics: z.array(z.string().max(200)).max(100),
        reason: text,
        until: iso.optional(),
        holds: z.boolean().optional(),
      })
      .loose()
      .optional(),
    approval: z
      .object({ stageIndex: count, approvedBy: text.nullable(), waitingSince: iso.nullable() })
      .loose()
      .optional(),
    applying: z
      .object({ what: text, since: iso, attempts: count, lastError: text.nullable() })
      .loose()
      .optional(),
    ending: z.object({ state: State, reason: text }).loose().optional(),
  })
  .loose();

type Parsed = z.infer<typeof RolloutStatusSchema>;
// Both ways, so a field added to or changed in RolloutStatus fails the typecheck until this follows.
// (`metric` is wider here on purpose: the interface's enum names only the built-in metrics.)
type Loosened = Omit<RolloutStatus, 'lastAnalysis' | 'execution'>;
const _parsedIsStatus = (p: Parsed): Omit<RolloutStatus, 'lastAnalysis' | 'execution'> => p;
const _statusIsParsed = (s: Loosened): Omit<Parsed, 'lastAnalysis'> => s;
void _parsedIsStatus;
void _statusIsParsed;
