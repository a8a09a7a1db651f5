// The evaluator's guards, as pure state over an injected clock: a budget (calls per minute, tokens
// per UTC day) and a circuit breaker (after consecutive failures, stop calling for a cool-down that
// doubles while probes keep failing).

const MINUTE = 60_000;
const DAY = 86_400_000;

export class Budget {
  /** Start times of the calls of the last minute, oldest first. */
  private readonly recent: number[] = [];
  private day = -1;
  tokensToday = 0;

  constructor(
    private readonly maxPerMinute: number,
    private readonly maxTokensPerDay: number,
  ) {}

  private roll(now: number): void {
    const day = Math.floor(now / DAY);
    if (day !== this.day) {
      this.day = day;
      this.tokensToday = 0;
    }
    while (this.recent.length > 0 && this.recent[0] <= now - MINUTE) this.recent.shift();
  }

  /** Why a call may not start now, or undefined when it may (and then it is counted). */
  take(now: number): 'minute' | 'day' | undefined {
    this.roll(now);
    if (this.tokensToday >= this.maxTokensPerDay) return 'day';
    if (this.recent.length >= this.maxPerMinute) return 'minute';
    this.recent.push(now);
    return undefined;
  }

  spend(tokens: number, now: number): void {
    this.roll(now);
    this.tokensToday += tokens;
  }

  /** The day's tokens are spent: nothing more is evaluated until the next UTC day. */
  exhausted(now: number): boolean {
    this.roll(now);
    return this.tokensToday >= this.maxTokensPerDay;
  }
}

export interface BreakerOptions {
  /** Consecutive failed calls that open the breaker. */
  failures: number;
  /** First cool-down; doubled after each failed probe, up to maxCoolDownMs. */
  coolDownMs: number;
  maxCoolDownMs: number;
}

export const DEFAULT_BREAKER: BreakerOptions = { failures: 3, coolDownMs: 2_000, maxCoolDownMs: 60_000 };

export class Breaker {
  private streak = 0;
  private openUntil = 0;
  private coolDown: number;
  private probing = false;
  /** When the breaker opened (undefined while closed), and the last failure's reason. */
  openedAt: number | undefined;
  reason = '';

  constructor(private readonly options: BreakerOptions = DEFAULT_BREAKER) {
    this.coolDown = options.coolDownMs;
  }

  get open(): boolean {
    return this.openedAt !== undefined;
  }

  /** Whether a call may go now: always while closed; one probe at a time after the cool-down. */
  allow(now: number): boolean {
    if (this.openedAt === undefined) return true;
    if (this.probing || now < this.openUntil) return false;
    this.probing = true;
    return true;
  }

  /** A probe allowed by `allow` that did not go after all (e.g. over budget): the next may probe. */
  release(): void {
    this.probing = false;
  }

  success(): void {
    this.streak = 0;
    this.probing = false;
    this.openedAt = undefined;
    this.coolDown = this.options.coolDownMs;
    this.reason = '';
  }

  failure(reason: string, now: number): void {
    this.reason = reason;
    this.streak++;
    if (this.openedAt !== undefined) {
      // A failed probe: wait longer before the next.
      this.probing = false;
      this.coolDown = Math.min(this.coolDown * 2, this.options.maxCoolDownMs);
      this.openUntil = now + this.coolDown;
    } else if (this.streak >= this.options.failures) {
      this.openedAt = now;
      this.openUntil = now + this.coolDown;
    }
  }
}
