// The policy's vocabulary: its state (carried across continue-as-new as is), the events it is fed,
// the effects it asks for and the commands it takes. Types only.
import type { Evidence } from '../../src/analysis/evidence';
import type { Verdict } from '../../src/analysis/types';
import type {
  AbortInput,
  ApproveInput,
  Decision,
  DismissInput,
  ExtendInput,
  LastAnalysis,
  NotifyFailure,
  PauseInput,
  PromoteInput,
  ResumeInput,
  RolloutResult,
  RolloutState,
} from '../../src/contract';
import type { NotifyEventType } from '../../src/notify/types';
import type { HookType } from '../../src/plan/schema';

export type Command =
  | { kind: 'pause'; input: PauseInput }
  | { kind: 'resume'; input: ResumeInput }
  | { kind: 'promote'; input: PromoteInput }
  | { kind: 'abort'; input: AbortInput }
  | { kind: 'extend'; input: ExtendInput }
  | { kind: 'dismiss'; input: DismissInput }
  | { kind: 'approve'; input: ApproveInput };

/** Hooks whose answer decides whether the rollout goes on (the others are only told). */
export type GateHook = Extract<HookType, 'pre-rollout' | 'confirm-traffic-increase' | 'confirm-promotion'>;

/** What a traffic write is for; decides what its landing means. */
export type WritePurpose = 'stage' | 'promote' | 'stable';

export interface Write {
  purpose: WritePurpose;
  /** The stage this write puts in place (for promote: the last stage). */
  stageIndex: number;
  /** Canary percent asked for (0 for stable and promote). */
  weight: number;
  /** For the Web UI's activity summary and the status line. */
  label: string;
  /** Who caused it and why, for the decision recorded when it lands. */
  by: string;
  reason: string;
  /** It carries out the pending promotion. */
  forPromote?: boolean;
}

/** What the interpreter is doing for the policy right now. */
export type Inflight =
  | {
      kind: 'write';
      opId: number;
      write: Write;
      /** Workflow time the write was first asked for, and how often it timed out since. */
      since: number;
      attempts: number;
      lastError: string | null;
    }
  | { kind: 'check'; opId: number; since: number; until: number; stageIndex: number }
  /** Gates: the plan's hooks of this type are called; the write follows when they all answer 2xx. */
  | { kind: 'hook'; opId: number; hook: GateHook; then: Write; since: number };

/** Why the rollout is being ended with all traffic on stable (the write under way). */
export interface Ending {
  final: 'rolled_back' | 'aborted';
  by: string;
  reason: string;
  verdict?: Verdict;
  /** Set when the rollout ends because of a configuration error: the workflow fails with it. */
  failure?: string;
  /** Ended by workflow cancellation: the workflow reports itself cancelled once stable is written. */
  cancelled?: boolean;
}

/** Everything a rollout needs to go on, JSON-safe: carried across continue-as-new as is. */
export interface PolicyState {
  version: 2;
  state: RolloutState;
  /** The stage in place at the router; it moves only once the router confirmed its split. */
  stageIndex: number;
  /** False until the first stage's split is confirmed; the stage's clock runs only after. */
  stageApplied: boolean;
  /** The canary percent the router confirmed last (what status may claim). */
  appliedWeight: number;
  /** Epoch ms (workflow time) when the current stage's split was confirmed: the data window start. */
  stageStartedAt: number;
  /** Observation time accrued in this stage while progressing with metrics coverage. */
  observedMs: number;
  /** observedMs as of the last check that had metrics: an outage takes back the time since. */
  observedAtCoveredCheck: number;
  /** The last check had metrics; false from a metrics outage until the next check that has them. */
  covered: boolean;
  /** Time accrued while not paused since the start, for progressDeadline. */
  activeMs: number;
  /** Last time observedMs/activeMs were brought up to date. */
  accruedAt: number;
  startedAt: number;
  failedChecks: number;
  passedChecks: number;
  /** Inconclusive checks past the window (or any without metrics) in a row. */
  inconclusiveStreak: number;
  /** Checks in a row without metrics (outage) or without a renewed lease. */
  outageStreak: number;
  nextCheckAt: number;
  lastAnalysis: LastAnalysis | null;
  decisions: Decision[];
  notifyFailures: NotifyFailure[];
  /** Commands accepted and waiting for their traffic change. */
  pendingPromote: { full: boolean; by: string; reason: string } | null;
  pendingAbort: { by: string; reason: string } | null;
  ending: Ending | null;
  inflight: Inflight | null;
  /** Last operation id handed out: outcomes of dropped operations are told apart by it. */
  opSeq: number;
  result: RolloutResult | null;
  /**
   * Decision rules the rollout started with (absent: the rules before "judge-v3"). 3: evidence about
   * the canary is carried across stages, each stage rules out its share of the minimum effect, and a
   * stage extends while the progress deadline leaves room for the later stages (no pause).
   */
  rules?: 3;
  /**
   * Rules 3 judged with conversations as the unit (patch judge-v4, src/analysis/evidence.ts
   * judgeRolloutV4): untempered per-conversation evidence, incidents on both versions held.
   */
  judgeV4?: true;
  /**
   * Judge v4 plus: a stage before the last may also pass on the means of its conversations' own
   * rates and scores (patch judge-v5, src/analysis/evidence.ts judgeRolloutV4, stats.meanLlr).
   */
  judgeV5?: true;
  /**
   * Judge v5 plus (patch judge-v6, docs/judge.md "Judge v6"): a stage before the last keeps a
   * metric's pass once crossed, and the stages' feedback reads and conversations' means are summed.
   */
  judgeV6?: true;
  /** Rules 3: the summed evidence of the stages before this one, and as of this stage's last check. */
  carried?: Evidence;
  evidence?: Evidence;
  // Optional so that states carried by runs before these commands existed stay valid as they are.
  /** Observation added to the current stage by `extend`; back to 0 at the next stage. */
  extendedMs?: number;
  /** Paused by a failed check on metrics whose onFail is pause; cleared by dismiss or a new stage. */
  pausedOnFail?: {
    at: number;
    metrics: string[];
    reason: string;
    /** Gates: each paused metric's regression when it paused (workflows/hold.ts). */
    regression?: Record<string, number>;
  } | null;
  /**
   * Gates (patch "gates-v1", docs/gates.md): a pause on a failed check holds for a person, stages
   * may wait for approval, and the plan's hooks are called. Absent in runs started before.
   */
  gates?: 1;
  /** Gates: the stage whose approval was given, by whom; and since when a stage waits for one. */
  approved?: { stageIndex: number; by: string } | null;
  awaitingApproval?: number | null;
  /** Gates: the pre-rollout hooks answered 2xx (they are not called again after continue-as-new). */
  preRolloutDone?: boolean;
  /**
   * How checks are scheduled (absent: a timer, then the check, due from the end of the last one).
   * deferred: the next check is handed to the activity as soon as the last one is done, with the time
   * it is due (`at`); the activity renews the lease, waits until then and judges. One activity and one
   * workflow task per check, no timer, and the cadence is anchored to the stage start.
   */
  checks?: 'deferred';
}

/** What the check activity needs to judge the rollout, not only the stage (rules 3). */
export interface RolloutAsk {
  /** The summed evidence of the stages before this one. */
  carried?: Evidence;
  /** The regression this stage must rule out, in multiples of minEffect (passMultiple). */
  passAt: number;
  /** Judge v6: this stage's evidence as of its last check (which metrics passed in it already). */
  latest?: Evidence;
}

/** The result of one check, as the check activity reports it. */
export type CheckOutcome =
  | {
      metrics: 'ok';
      verdict: Verdict;
      /** Sample sizes behind the verdict, for charts and reports. */
      stableRequests?: number;
      canaryRequests?: number;
      /** The source holds data only from here (e.g. a gateway restart lost its metrics before). */
      coveredSince?: number;
      /**
       * Rules 3: the rollout's verdict (this check's with the evidence of the earlier stages, judged
       * by the activity as the check asked) and the summed evidence: what the rollout acts on, so
       * that history records it. null: not asked for, or not a statistical verdict. Absent: recorded
       * before the activity judged the rollout (checkDone judges it then, as it did).
       */
      rollout?: { verdict: Verdict; evidence: Evidence } | null;
    }
  /** The metrics source did not answer (5xx, timeout, refused): not evidence either way. */
  | { metrics: 'outage'; message: string };

export type FailureKind = 'config' | 'outage';

export type PolicyEvent =
  /** `retry`: this run starts again a rollout that ended (rolled back, aborted), by whom and why. */
  | { type: 'start'; retry?: { by: string; reason: string; previousRunId: string } }
  /** A new run after continue-as-new: the split of the current stage is in place. */
  | { type: 'continued' }
  /** Time passed (the wake-up timer fired). */
  | { type: 'tick' }
  | { type: 'command'; command: Command }
  | { type: 'cancelled' }
  | { type: 'write_done'; opId: number }
  | { type: 'check_done'; opId: number; outcome: CheckOutcome }
  /** The gate hooks answered: ok, or the first failing hook's answer as the reason. */
  | { type: 'hook_done'; opId: number; ok: boolean; reason: string }
  /**
   * The run is about to continue as new: a deferred check waiting for its time is given up (the new
   * run asks for it again, due at the same time). Nothing else starts in this step.
   */
  | { type: 'suspend' }
  /**
   * The operation failed. config: refused for good (a 4xx, unknown agent or version, bad credentials);
   * outage: it kept failing for its time budget (router or metrics source down, timeouts).
   */
  | { type: 'op_failed'; opId: number; kind: FailureKind; message: string };

export type Effect =
  | { type: 'write'; opId: number; write: Write; decidedAt: number; leaseMs: number | null }
  | {
      type: 'check';
      opId: number;
      since: number;
      until: number;
      stageIndex: number;
      weight: number;
      /** Deferred checks: when the check is due (epoch ms); the activity waits until then. */
      at?: number;
      /** Rules 3: the activity also judges the rollout, with these stages' evidence (CheckOutcome). */
      rollout?: RolloutAsk;
    }
  /** Stop waiting for this operation; its late outcome is ignored. */
  | { type: 'drop'; opId: number }
  | { type: 'notify'; event: NotifyEventType; by: string; reason: string; verdict?: Verdict }
  /** Call the plan's hooks of this type: gate hooks answer with hook_done; the others are only told. */
  | { type: 'hook'; opId: number; hook: HookType; stageIndex: number; weight: number; reason: string }
  | { type: 'finish'; result: RolloutResult; failure?: string; cancelled?: boolean };

export interface StepResult {
  state: PolicyState;
  effects: Effect[];
  /** When the policy wants a tick if nothing else happens first; null while waiting on an operation. */
  wakeAt: number | null;
}
