// Replicas: keeps this gateway's split table in step with the shared state, says in a heartbeat
// which splits it has applied, and confirms a write only once every live replica has applied it.
import type { SharedSplitStore } from './split-store';
import { REPLICA_LIVE_MS, type SharedState } from './shared-state';
import type { SplitTable } from './splits';

/** How often the shared splits are read: propagation to every replica takes about this long. */
const POLL_MS = 200;
/** A full re-read now and then repairs a change read out of order (sequence numbers commit unordered). */
const FULL_READ_EVERY = 25;
/**
 * Without a heartbeat written for this long this replica routes 100% to stable. Shorter than
 * REPLICA_LIVE_MS (after which the others stop waiting for it) by more than any clock skew we
 * expect, so a replica the others no longer count has already stopped serving a canary share.
 */
const STALE_MS = 2_000;
/** How long a split write waits for every live replica before answering 503. */
const CONFIRM_WAIT_MS = 2_500;
/** Heartbeats between changes, so the others see this replica alive. */
const HEARTBEAT_MS = 500;

export interface Confirmation {
  live: number;
  lagging: string[];
  waitedMs: number;
  liveMs: number;
}

export class Replication {
  private timer: NodeJS.Timeout | undefined;
  private polls = 0;
  private running: Promise<void> | undefined;
  private lastHeartbeat = 0;
  private heartbeatSeq = -1;
  private lastError = '';
  private lastErrorLogged = 0;
  private stopped = false;

  constructor(
    private readonly shared: SharedState,
    private readonly store: SharedSplitStore,
    private readonly splits: SplitTable,
    private readonly log: (line: string) => void,
  ) {}

  async start(): Promise<void> {
    await this.poll();
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.poll().finally(() => this.schedule());
    }, POLL_MS);
    this.timer.unref();
  }

  /** One read of the shared splits (coalesced with a read already running). */
  poll(): Promise<void> {
    this.running ??= this.readOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async readOnce(): Promise<void> {
    try {
      const full = this.polls++ % FULL_READ_EVERY === 0;
      if (full) {
        const { splits, seq } = await this.shared.splits();
        for (const [agent, split] of splits) {
          this.splits.applyRemote(agent, split);
          this.store.noteRemote(agent, split, seq);
        }
      } else {
        for (const change of await this.shared.changesSince(this.store.seq)) {
          this.splits.applyRemote(change.agent, change.split);
          this.store.noteRemote(change.agent, change.split, change.seq);
        }
      }
      const now = Date.now();
      if (this.store.seq !== this.heartbeatSeq || now - this.lastHeartbeat >= HEARTBEAT_MS) {
        await this.shared.heartbeat(this.store.seq);
        this.heartbeatSeq = this.store.seq;
        this.lastHeartbeat = now;
        // From before the heartbeat was sent: the others' clock for it starts no earlier.
        this.splits.markFresh(now + STALE_MS);
      }
      if (this.lastError) {
        this.log(`shared state readable again (after: ${this.lastError})`);
        this.lastError = '';
      }
    } catch (err) {
      this.lastError = (err as Error).message;
      if (Date.now() - this.lastErrorLogged > 10_000) {
        this.lastErrorLogged = Date.now();
        this.log(
          `cannot read the shared state (${this.lastError}); canary shares here lapse to stable ` +
            `${STALE_MS} ms after the last good read`,
        );
      }
    }
  }

  /**
   * Waits until every live replica has applied this replica's newest write (or CONFIRM_WAIT_MS).
   * This replica reads its own write back first, so its own heartbeat counts like the others.
   */
  async confirm(): Promise<Confirmation> {
    const target = this.store.lastWrite;
    const started = Date.now();
    for (;;) {
      await this.poll();
      const live = await this.shared.liveReplicas();
      const lagging = live.filter((r) => r.appliedSeq < target).map((r) => r.id);
      const waitedMs = Date.now() - started;
      if (lagging.length === 0 || waitedMs >= CONFIRM_WAIT_MS) {
        return { live: live.length, lagging, waitedMs, liveMs: REPLICA_LIVE_MS };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  status(): { id: string; appliedSeq: number; lastError?: string } {
    return {
      id: this.shared.replicaId,
      appliedSeq: this.store.seq,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
