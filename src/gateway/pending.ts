// Requests waiting for late feedback, joined by request id. Bounded in time (ttl) and count
// (maxPending): a Map keeps insertion order, so the oldest entries are always at the front.
import type { VersionSeries } from './metrics-store';

interface Entry {
  series: VersionSeries;
  at: number;
  /** Each outcome kind is counted once per request, so a retried feedback call cannot double it. */
  gotTask: boolean;
  gotQuality: boolean;
  /** The outcome came from the online evaluator, not from feedback (said in a later 409). */
  fromEvaluator?: boolean;
  /** The request's x-session-id, so its outcome counts for its conversation. */
  conversation?: string;
  /** Cost per successful task: the answer's cost, once read, and whether its task succeeded. */
  cost?: number;
  succeeded?: boolean;
}

export type JoinResult =
  { ok: true; agent: string; version: string } | { ok: false; status: 404 | 409; reason: string };

export class PendingRequests {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxPending: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /**
   * Remembers a request for joining. An id already pending (and not expired) keeps its first
   * version and state: a second request naming the same x-request-id cannot move it to another
   * version or reset what was already recorded. Returns false then.
   */
  add(requestId: string, series: VersionSeries, now: number, conversation?: string): boolean {
    const existing = this.entries.get(requestId);
    if (existing && existing.at >= now - this.ttlMs) return false;
    if (existing) this.entries.delete(requestId);
    if (this.entries.size >= this.maxPending) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(requestId, {
      series,
      at: now,
      gotTask: false,
      gotQuality: false,
      ...(conversation !== undefined ? { conversation } : {}),
    });
    return true;
  }

  /** Drops entries past their ttl; called on a timer, not per request. */
  prune(now: number): void {
    const cutoff = now - this.ttlMs;
    for (const [id, e] of this.entries) {
      if (e.at >= cutoff) break;
      this.entries.delete(id);
    }
  }

  /** Records feedback for a known request; refuses unknown/expired ids and repeated outcome kinds. */
  join(
    requestId: string,
    taskSuccess: boolean | undefined,
    qualityScore: number | undefined,
    now: number,
    source: 'feedback' | 'evaluator' = 'feedback',
  ): JoinResult {
    const e = this.entries.get(requestId);
    if (!e || e.at < now - this.ttlMs) {
      return {
        ok: false,
        status: 404,
        reason: `unknown or expired requestId "${requestId}" (feedback is joined for ${Math.round(this.ttlMs / 1000)}s after the request)`,
      };
    }
    if ((taskSuccess !== undefined && e.gotTask) || (qualityScore !== undefined && e.gotQuality)) {
      return {
        ok: false,
        status: 409,
        reason: `feedback for requestId "${requestId}" was already recorded (${[
          e.gotTask ? 'taskSuccess' : '',
          e.gotQuality ? 'qualityScore' : '',
        ]
          .filter(Boolean)
          .join(', ')}${e.fromEvaluator ? ', by the evaluator' : ''})`,
      };
    }
    if (taskSuccess !== undefined) e.gotTask = true;
    if (qualityScore !== undefined) e.gotQuality = true;
    if (source === 'evaluator') e.fromEvaluator = true;
    const at = e.series.recordOutcomeAt(
      { taskSuccess, qualityScore, fromEvaluator: source === 'evaluator' },
      e.at,
      now,
    );
    e.series.conversations.outcome(e.conversation, { taskSuccess, qualityScore }, at);
    if (taskSuccess === true) {
      e.succeeded = true;
      if (e.cost !== undefined) e.series.recordSuccessCost(e.cost, now);
    }
    return { ok: true, agent: e.series.agent, version: e.series.version };
  }

  /**
   * The cost of a proxied request's answer, once read (its first answer only: a second request
   * reusing the id changes nothing). Counted toward cost per successful task when its task
   * succeeded, whichever of the two arrives first.
   */
  answered(requestId: string, cost: number, now: number): void {
    const e = this.entries.get(requestId);
    if (!e || e.cost !== undefined) return;
    e.cost = cost;
    if (e.succeeded) e.series.recordSuccessCost(cost, now);
  }

  /** Marks outcome kinds already reported with the request itself (POST /outcomes). */
  markReported(requestId: string, taskSuccess: boolean, quality: boolean): void {
    const e = this.entries.get(requestId);
    if (!e) return;
    e.gotTask ||= taskSuccess;
    e.gotQuality ||= quality;
  }
}
