// One run of a rollout: the policy's state, the queue of events it is fed, and what it publishes (the
// log of decisions, search attributes, the Web UI's details). The main loop (workflows/canary.ts)
// feeds it; the handlers (workflows/handlers.ts) bring commands; the effect interpreter
// (workflows/effects.ts) carries out what each step asks and pushes the outcomes back.
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributePair } from '@temporalio/common';
import { ROLLOUT_EVENT_KEY, type Decision, type RolloutOptions, type RolloutStatus } from '../src/contract';
import type { ResolvedPlan } from '../src/plan/schema';
import type { RolloutEvent } from '../src/temporal/rollout-events';
import { Effects, type EffectHost } from './effects';
import { SA } from './messages';
import {
  refusal,
  settled,
  step,
  type Command,
  type Effect,
  type PolicyEvent,
  type PolicyState,
} from './policy';
import { detailsOf, searchAttributesOf, statusOf } from './view';

export type Finish = Extract<Effect, { type: 'finish' }>;

/**
 * History events after which a run continues as new (patch bounded-runs). The SDK keeps, per cached
 * run, every command the run issued (each check's activity with its input) and the workflow's own
 * bookkeeping until the run ends: about 10 KB a check, which a 2 h stage at 30 s checks would let
 * reach megabytes per rollout before the server's suggestion (4,096 events). A check makes about 7
 * events, so this is a new run every 20-odd checks: a short first task each time, and at most a few
 * hundred KB per cached rollout (bench:scale, docs/production.md).
 */
export const RUN_EVENT_LIMIT = 150;

/**
 * The bound of runs started since code version 12 (patch baseline-v12), drawn from its upper half as
 * well. The core's memory for a cached run grows with every check until the run ends (its state
 * machines); 1,000 rollouts at 30 s checks plateaued at 597 MB with runs of 75-150 events.
 */
export const BASELINE_RUN_EVENT_LIMIT = 100;

/**
 * A new run's bound, drawn from [limit / 2, limit] (patch staggered-runs).
 * Rollouts started together reach one bound at the same check: a thousand new runs' first tasks then
 * queue behind each other for tens of seconds, as a thousand starts do (bench:scale), and their checks
 * come late; drawn bounds spread them over ten-odd checks, and further at every run.
 */
export function staggeredEventLimit(random: number, limit: number = RUN_EVENT_LIMIT): number {
  const low = Math.ceil(limit / 2);
  return Math.min(limit, low + Math.floor(random * (limit - low + 1)));
}

export class Rollout implements EffectHost {
  readonly queue: PolicyEvent[] = [];
  readonly notifications: Promise<void>[] = [];
  readonly workflowId: string;
  readonly runId: string;
  /** When the policy wants a tick if nothing else happens first. */
  wakeAt: number | null = null;
  finished: Finish | null = null;
  private readonly pending: Effect[] = [];
  private readonly effects: Effects = new Effects(this);
  /** What visibility holds now (set at start by the client, or by an earlier run), to upsert only changes. */
  private readonly upserted: Map<string, unknown>;

  constructor(
    readonly plan: ResolvedPlan,
    readonly options: RolloutOptions,
    private s: PolicyState,
    readonly mirroring: boolean,
    /** Continue as new after this many history events (undefined: at the server's suggestion only). */
    private readonly eventLimit: number | undefined,
  ) {
    const info = workflowInfo();
    this.workflowId = info.workflowId;
    this.runId = info.runId;
    this.upserted = new Map(info.typedSearchAttributes.getAll().map((p) => [p.key.name, p.value] as const));
  }

  state(): PolicyState {
    return this.s;
  }
  push(event: PolicyEvent): void {
    this.queue.push(event);
  }
  finish(e: Finish): void {
    this.finished = e;
  }

  /** One step of the policy; its effects wait for drain(). */
  feed(event: PolicyEvent): void {
    const before = this.s.decisions.at(-1);
    const r = step(this.s, this.plan, event, Date.now());
    this.s = r.state;
    this.wakeAt = r.wakeAt;
    this.pending.push(...r.effects);
    this.logDecisions(before);
  }

  /** Carries out the effects asked for so far, then publishes what changed. */
  drain(): void {
    while (this.pending.length > 0) this.effects.carryOut(this.pending.shift()!);
    this.syncVisibility();
  }

  status(): RolloutStatus {
    return statusOf(this.plan, this.s, Date.now(), this.workflowId);
  }

  /** Why the policy would not take this command now (the one admission rule), or null. */
  refusal(cmd: Command): string | null {
    return refusal(this.s, cmd, this.plan);
  }

  /** A command by Signal: refused ones are logged, not fed (a Signal has nobody to answer). */
  fromSignal(cmd: Command): void {
    const why = this.refusal(cmd);
    if (why) {
      log.warn(`ignored ${cmd.kind} signal: ${why}`);
      return;
    }
    this.queue.push({ type: 'command', command: cmd });
  }

  /**
   * A command by Update, taken at once in this activation: the main loop is never in the way. The
   * tick wakes the loop, which may be waiting on an operation the command just dropped, to carry out
   * the command's effects now. Answers once the command's effect has happened.
   */
  async viaUpdate(cmd: Command): Promise<RolloutStatus> {
    this.feed({ type: 'command', command: cmd });
    this.queue.push({ type: 'tick' });
    await condition(() => settled(this.s, cmd.kind));
    return this.status();
  }

  /** A deferred check waiting for its time: the only operation a new run can take over as it is. */
  waitingCheck(): boolean {
    return this.s.checks === 'deferred' && this.s.inflight?.kind === 'check';
  }

  /** At a safe point (nothing but a waiting check in flight), continue as new when history is long. */
  async maybeContinueAsNew(): Promise<void> {
    const busy = () => (this.s.inflight && !this.waitingCheck()) || this.s.ending || this.queue.length > 0;
    if (busy() || this.s.pendingPromote) return;
    const limit = this.eventLimit;
    const suggested =
      workflowInfo().continueAsNewSuggested || (limit !== undefined && workflowInfo().historyLength >= limit);
    if (!suggested) return;
    await Promise.all(this.notifications);
    await condition(allHandlersFinished);
    if (busy()) return;
    if (this.s.inflight) {
      this.feed({ type: 'suspend' });
      this.drain();
    }
    log.info('continuing as new', { historyLength: workflowInfo().historyLength });
    // The resolved plan goes on as it is: the next run needs no activity to resolve it.
    await continueAsNew(this.plan, { ...this.options, carried: this.s as never });
  }

  private syncVisibility(): void {
    const values = searchAttributesOf(this.plan, this.s);
    const wanted: SearchAttributePair[] = [
      { key: SA.agent, value: values.agent },
      { key: SA.state, value: values.state },
      { key: SA.percent, value: values.percent },
      { key: SA.canaryVersion, value: values.canaryVersion },
      { key: SA.stableVersion, value: values.stableVersion },
    ];
    const changes = wanted.filter((pair) => this.upserted.get(pair.key.name) !== pair.value);
    if (changes.length > 0) {
      // Each upsert is a history event: only on change.
      upsertSearchAttributes(changes);
      for (const pair of changes) this.upserted.set(pair.key.name, pair.value);
    }
    setCurrentDetails(detailsOf(this.plan, this.s, this.options.carried !== undefined));
  }

  // Each new decision as a log entry, which `dev` and `worker` print as a line for people
  // (src/temporal/rollout-events.ts). Not a command: histories replay unchanged; skipped on replay.
  private logDecisions(before: Decision | undefined): void {
    const from = before === undefined ? 0 : this.s.decisions.lastIndexOf(before) + 1;
    if (before !== undefined && from === 0) return;
    for (const d of this.s.decisions.slice(from)) {
      const rolloutEvent: RolloutEvent = {
        ...d,
        agent: this.plan.agent,
        stable: this.plan.stable,
        canary: this.plan.canary,
        stageCount: this.plan.stages.length,
        workflowId: this.workflowId,
      };
      log.info(`rollout ${d.action}`, { [ROLLOUT_EVENT_KEY]: rolloutEvent });
    }
  }
}
