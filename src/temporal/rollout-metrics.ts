// The worker's rollout metrics (`/metrics` on the worker, Prometheus text), named after Flagger's
// `flagger_canary_*` and Argo Rollouts' `rollout_*`: per agent the state, stage, canary weight, time
// in stage, checks by verdict and decisions by action and actor (docs/gitops.md lists them).
//
// They come from what this worker's activities carry out (each activity runs on exactly one worker):
// counters are exact summed over workers; gauges are this worker's latest sight of the rollout, kept
// while its checks keep arriving (three check intervals, at least five minutes) and for an hour after
// the rollout ends. With several workers, read gauges with `max by (agent)`.
// Decisions reach the worker as the notify activity, which the workflow calls only for plans with a
// `notify` target (`{ type: log }` is enough): without one there are no decision series, and a
// rollback or abort leaves the state unsaid (a promotion is seen in the split).
import { Counter, Gauge, Registry } from 'prom-client';
import type { NotifyEvent, NotifyEventType } from '../notify/types';
import type { DesiredSplit } from '../router/types';
import type { CheckOutcome } from '../../workflows/policy';
import { SYSTEM_ACTOR } from '../../workflows/policy';

export const ROLLOUT_STATES = ['progressing', 'paused', 'promoted', 'rolled_back', 'aborted'] as const;
type State = (typeof ROLLOUT_STATES)[number];

/** What each notified event says of the rollout's state afterwards. */
const STATE_AFTER: Record<NotifyEventType, State | null> = {
  started: 'progressing',
  stage_advanced: 'progressing',
  resumed: 'progressing',
  paused: 'paused',
  inconclusive_streak: 'paused',
  promoted: 'promoted',
  rolled_back: 'rolled_back',
  aborted: 'aborted',
  // Gates (docs/gates.md): held on a failed check is paused; a dismiss or an approval moves on; a
  // stage waiting for approval is still progressing (its checks run).
  paused_on_fail: 'paused',
  dismissed: 'progressing',
  awaiting_approval: 'progressing',
  approved: 'progressing',
};
const FINAL: ReadonlySet<State> = new Set(['promoted', 'rolled_back', 'aborted']);

/**
 * Who made a decision, as a label with few values: `system` (the rollout itself), `gitops` (the
 * AgentRollout operator), `person` (anyone else). The name itself is user content: not a label.
 */
export function actorKind(by: string): 'system' | 'gitops' | 'person' {
  if (by === SYSTEM_ACTOR) return 'system';
  if (/\bagentrollout\//.test(by)) return 'gitops';
  return 'person';
}

interface Seen {
  stable?: string;
  canary?: string;
  state?: State;
  stage?: number;
  stageCount?: number;
  weight?: number;
  stageStartedAt?: number;
  /** Epoch ms of the last observation, and how long it stays exported. */
  at: number;
  keepMs: number;
}

const MIN_KEEP_MS = 5 * 60_000;
const FINAL_KEEP_MS = 60 * 60_000;

export interface RolloutMetricsOptions {
  /** Clock, for tests. */
  now?: () => number;
}

/** What the activities report (activities/index.ts `deps.observe`). */
export interface RolloutObserver {
  observeCheck(input: CheckSeen, outcome: CheckOutcome): void;
  observeSplit(agent: string, desired: DesiredSplit): void;
  observeDecision(event: NotifyEvent): void;
}

export interface CheckSeen {
  agent: string;
  stable: string;
  canary: string;
  /** Epoch ms the stage started. */
  since: number;
  lease: DesiredSplit;
  analysis: { intervalMs: number };
}

/** The rollout metrics of one worker process, in their own registry. */
export class RolloutMetrics implements RolloutObserver {
  readonly registry = new Registry();
  private readonly seen = new Map<string, Seen>();
  private readonly now: () => number;
  private readonly checks: Counter<'agent' | 'verdict'>;
  private readonly decisions: Counter<'agent' | 'action' | 'actor'>;

  constructor(opts: RolloutMetricsOptions = {}) {
    this.now = opts.now ?? Date.now;
    const registers = [this.registry];
    this.checks = new Counter({
      name: 'agent_canary_rollout_checks_total',
      help: 'Checks of canary against stable, by verdict (pass, fail, inconclusive; outage: the metrics source did not answer).',
      labelNames: ['agent', 'verdict'],
      registers,
    });
    this.decisions = new Counter({
      name: 'agent_canary_rollout_decisions_total',
      help: 'Rollout decisions by action (started, stage_advanced, paused, resumed, promoted, rolled_back, aborted, inconclusive_streak) and actor kind (system, gitops, person).',
      labelNames: ['agent', 'action', 'actor'],
      registers,
    });
    const gauge = (name: string, help: string, labelNames: string[], fill: (g: Gauge) => void) =>
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          fill(this);
        },
      });
    gauge(
      'agent_canary_rollout_info',
      'A rollout this worker carries out: 1 per agent, with its stable and canary versions.',
      ['agent', 'stable', 'canary'],
      (g) => {
        for (const [agent, s] of this.fresh())
          if (s.stable && s.canary) g.set({ agent, stable: s.stable, canary: s.canary }, 1);
      },
    );
    gauge(
      'agent_canary_rollout_state',
      'The rollout state, one series per state: 1 for the current one, 0 for the others.',
      ['agent', 'state'],
      (g) => {
        for (const [agent, s] of this.fresh()) {
          if (!s.state) continue;
          for (const state of ROLLOUT_STATES) g.set({ agent, state }, state === s.state ? 1 : 0);
        }
      },
    );
    gauge('agent_canary_rollout_weight', "The canary's share of traffic in percent.", ['agent'], (g) => {
      for (const [agent, s] of this.fresh()) if (s.weight !== undefined) g.set({ agent }, s.weight);
    });
    gauge('agent_canary_rollout_stage', 'The current stage, 1-based.', ['agent'], (g) => {
      for (const [agent, s] of this.fresh()) if (s.stage !== undefined) g.set({ agent }, s.stage);
    });
    gauge('agent_canary_rollout_stages', 'Stages in the rollout.', ['agent'], (g) => {
      for (const [agent, s] of this.fresh()) if (s.stageCount !== undefined) g.set({ agent }, s.stageCount);
    });
    gauge(
      'agent_canary_rollout_stage_seconds',
      'Time in the current stage, for rollouts still going (a stuck rollout keeps rising).',
      ['agent'],
      (g) => {
        const now = this.now();
        for (const [agent, s] of this.fresh()) {
          if (s.stageStartedAt === undefined || (s.state && FINAL.has(s.state))) continue;
          g.set({ agent }, Math.max(0, (now - s.stageStartedAt) / 1000));
        }
      },
    );
    gauge(
      'agent_canary_rollout_last_seen_timestamp_seconds',
      'When this worker last saw the rollout (a check, a split, a decision): with several workers, the freshest series is the truth.',
      ['agent'],
      (g) => {
        for (const [agent, s] of this.fresh()) g.set({ agent }, s.at / 1000);
      },
    );
  }

  /** A check's outcome (from the checkCanary activity), with the lease it renewed for the stage. */
  observeCheck(input: CheckSeen, outcome: CheckOutcome): void {
    const verdict = outcome.metrics === 'ok' ? outcome.verdict.verdict : 'outage';
    this.checks.inc({ agent: input.agent, verdict });
    const prev = this.seen.get(input.agent);
    this.update(input.agent, {
      // A check means the rollout runs; only a decision says it is paused.
      ...(prev?.state === 'paused' ? {} : { state: 'progressing' as const }),
      keepMs: Math.max(MIN_KEEP_MS, 3 * input.analysis.intervalMs),
      stable: input.stable,
      canary: input.canary,
      weight: input.lease.canaryWeight,
      stageStartedAt: input.since,
    });
  }

  /**
   * A split written by the setTrafficSplit activity. The canary becoming stable is a promotion,
   * whatever else is known; all traffic back on stable is a rollback or an abort, which only the
   * decision (a notification) tells apart: until then the state is not said.
   */
  observeSplit(agent: string, desired: DesiredSplit): void {
    const prev = this.seen.get(agent);
    if (desired.canary) {
      this.update(agent, { weight: desired.canaryWeight });
    } else if (prev?.canary && desired.stable === prev.canary) {
      this.update(agent, { weight: 100, state: 'promoted', keepMs: FINAL_KEEP_MS });
    } else if (!prev?.state || !FINAL.has(prev.state)) {
      this.update(agent, { weight: 0, state: undefined, keepMs: FINAL_KEEP_MS });
    }
  }

  /** A decision, as the notify activity receives it. */
  observeDecision(event: NotifyEvent): void {
    this.decisions.inc({ agent: event.agent, action: event.type, actor: actorKind(event.by) });
    const state = STATE_AFTER[event.type];
    const prev = this.seen.get(event.agent);
    const stageChanged = prev?.stage !== event.stageIndex + 1 || event.type === 'started';
    this.update(event.agent, {
      stable: event.stable,
      canary: event.canary,
      stage: event.stageIndex + 1,
      stageCount: event.stageCount,
      weight: state && FINAL.has(state) ? (state === 'promoted' ? 100 : 0) : event.percent,
      ...(state ? { state } : {}),
      ...(stageChanged ? { stageStartedAt: Date.parse(event.at) || this.now() } : {}),
      ...(state && FINAL.has(state) ? { keepMs: FINAL_KEEP_MS } : {}),
    });
  }

  /** The Prometheus text exposition. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  private update(agent: string, patch: Partial<Seen>): void {
    const prev = this.seen.get(agent);
    // A check after the end belongs to nothing new; a start after the end is a new rollout.
    const ended = prev?.state !== undefined && FINAL.has(prev.state) && patch.state === undefined;
    const next: Seen = { ...(prev ?? { keepMs: MIN_KEEP_MS }), ...patch, at: this.now() };
    if (ended) next.keepMs = FINAL_KEEP_MS;
    this.seen.set(agent, next);
  }

  private *fresh(): Iterable<[string, Seen]> {
    const now = this.now();
    for (const [agent, s] of this.seen) {
      if (now - s.at > s.keepMs) this.seen.delete(agent);
      else yield [agent, s];
    }
  }
}
