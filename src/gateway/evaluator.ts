// The online evaluator of one agent: samples answers of every version by the same rule, and after
// each sampled answer has been served sends the request and the answer (never which version gave
// it) to an OpenAI-compatible model that returns a JSON verdict {score, taskSuccess, reason}. The
// verdict is recorded as that request's quality score and task outcome through the feedback join.
// Off the user's path: a sampled request costs one copy of its bytes; the call happens after the
// answer ended, from a bounded queue. An evaluator that is down, junk-answering or out of budget
// yields no scores and says so (`status`, `unavailable`): never a zero, never "healthy".
import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import { z } from 'zod';
import { checkOutboundUrl, describeUrl } from '../outbound';
import { Breaker, Budget, DEFAULT_BREAKER, type BreakerOptions } from './evaluator-budget';
import type { EvaluateConfig } from './evaluator-config';
import { Capture, answerText, requestText } from './evaluator-transcript';
import { bucketOf } from './routing';

/** Sampled exchanges waiting for the evaluator; beyond it new ones are dropped (and counted). */
export const MAX_QUEUE = 1000;
/** Evaluator calls in flight at once. */
const CONCURRENCY = 4;
/** Bytes captured per side of an exchange; a longer one is evaluated on its first part. */
const MAX_CAPTURE = 256 * 1024;
/** Conversations buffered in session mode, and turns kept per conversation (the latest). */
const MAX_SESSIONS = 10_000;
const MAX_TURNS = 50;
const MINUTE = 60_000;

/** The verdict the evaluator must return (response_format json_schema, checked again here). */
export const EvaluatorVerdictSchema = z.object({
  score: z.number().min(0).max(1),
  taskSuccess: z.boolean(),
  reason: z.string().max(4000),
});
export type EvaluatorVerdict = z.infer<typeof EvaluatorVerdictSchema>;

/** The JSON schema sent as `response_format` (strict: every field required, nothing else). */
export const VERDICT_JSON_SCHEMA = {
  type: 'object',
  properties: {
    score: { type: 'number', minimum: 0, maximum: 1, description: '0 = useless, 1 = perfect' },
    taskSuccess: { type: 'boolean', description: "whether the answer accomplishes the user's task" },
    reason: { type: 'string', description: 'one sentence' },
  },
  required: ['score', 'taskSuccess', 'reason'],
  additionalProperties: false,
} as const;

const INSTRUCTIONS =
  'You grade one answer of an AI agent (or one whole conversation) against the rubric below. ' +
  'Reply with JSON only: {"score": number from 0 to 1, "taskSuccess": true or false, "reason": one sentence}.';

export type EvaluatorState = 'ok' | 'down' | 'over budget' | 'waiting';

/** What `status`, the dashboard and the judge learn about an agent's evaluator. */
export interface EvaluatorStatus {
  state: EvaluatorState;
  /** Why it is down or over budget (never the URL's path, the key or anything a user wrote). */
  reason?: string;
  /** Since when (epoch ms) it is down. */
  since?: number;
  endpoint: string;
  model: string;
  sample: number;
  session: boolean;
  queued: number;
  counts: EvaluatorCounts;
  tokensToday: number;
  maxTokensPerDay: number;
}

export interface EvaluatorCounts {
  /** Exchanges the sample rule picked (answered with a status below 400). */
  sampled: number;
  /** Verdicts recorded as the request's outcome. */
  recorded: number;
  /** Verdicts not recorded: the request already had feedback, or its join expired. */
  refused: number;
  /** Calls that failed after retries (network, HTTP error, timeout). */
  failed: number;
  /** Answers that were not the verdict JSON. */
  junk: number;
  /** Skipped: over the per-minute budget, the day's tokens, the queue full, or the breaker open. */
  skipped: number;
}

/** Evaluator calls and tokens over a time range (what a rollout cost in evaluation). */
export interface EvaluatorSpend {
  calls: number;
  inputTokens: number;
  outputTokens: number;
}

export type RecordVerdict = (
  requestId: string,
  outcome: { taskSuccess: boolean; qualityScore: number },
) => Promise<boolean>;

export interface EvaluatorOptions {
  agent: string;
  config: EvaluateConfig;
  /** Records a verdict as the request's outcome (the feedback join); false when refused. */
  record: RecordVerdict;
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
  breaker?: BreakerOptions;
  /** The canary routed now (null without one): spend is summed per canary, i.e. per rollout. */
  currentCanary?: () => string | null;
}

interface Job {
  requestId: string;
  /** The transcript: request and answer, or every turn of a conversation. */
  text: string;
}

interface Session {
  turns: string[];
  lastRequestId: string;
  version: string;
  mixed: boolean;
  last: number;
}

/** One sampled exchange being captured; `finish` hands it to the evaluator once the answer ended. */
export class EvaluationTap {
  readonly request = new Capture(MAX_CAPTURE);
  readonly response = new Capture(MAX_CAPTURE);
  contentType: string | undefined;

  constructor(
    private readonly evaluator: AgentEvaluator,
    private readonly sessionKey: string | undefined,
  ) {}

  /** The answer was served in full: evaluate it (answers with status >= 400 are error_rate's). */
  finish(requestId: string, version: string, status: number): void {
    if (status >= 400) return;
    // After the current turn of the event loop: the user's answer and the next requests go first.
    setImmediate(() => this.evaluator.captured(this, requestId, version, this.sessionKey));
  }
}

/** Error text safe to keep: no URL, no key, no body. */
function describeError(err: unknown, timeoutMs: number): string {
  if (err instanceof OpenAI.APIConnectionTimeoutError) return `no answer within ${timeoutMs} ms`;
  if (err instanceof OpenAI.APIConnectionError) return 'cannot connect';
  if (err instanceof OpenAI.APIError && err.status !== undefined) return `answered HTTP ${err.status}`;
  if ((err as { name?: string })?.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  return 'call failed';
}

export class AgentEvaluator {
  private readonly client: OpenAI;
  private readonly budget: Budget;
  private readonly breaker: Breaker;
  private readonly queue: Job[] = [];
  private readonly sessions = new Map<string, Session>();
  private readonly spendByMinute = new Map<number, EvaluatorSpend>();
  /** Spend since the canary now routed was first seen by this evaluator: the rollout's cost. */
  private rollout: { canary: string; since: number; spend: EvaluatorSpend } | undefined;
  /** Session sampling hashes the key with this, so clients cannot pick keys that get sampled. */
  private readonly salt = randomUUID();
  private readonly sweep: NodeJS.Timeout | undefined;
  private running = 0;
  private closed = false;
  private readonly idle: Set<() => void> = new Set();
  readonly counts: EvaluatorCounts = { sampled: 0, recorded: 0, refused: 0, failed: 0, junk: 0, skipped: 0 };
  /** The key's variable is named but unset: calls go without a key, and status says so. */
  readonly missingKey: boolean;

  constructor(private readonly options: EvaluatorOptions) {
    const c = options.config;
    const env = options.env ?? process.env;
    const key = c.apiKeyEnv ? env[c.apiKeyEnv] : undefined;
    this.missingKey = c.apiKeyEnv !== undefined && !key;
    const base = checkOutboundUrl(c.url);
    this.client = new OpenAI({
      // Local evaluators need no key; the SDK insists on a string.
      apiKey: key || 'none',
      baseURL: base.href.replace(/\/+$/, ''),
      timeout: c.timeout,
      maxRetries: 2,
      // Redirects are answers, not instructions (the outbound policy): a 3xx fails the call.
      fetch: (url: string | URL | Request, init?: RequestInit) => fetch(url, { ...init, redirect: 'manual' }),
    });
    this.budget = new Budget(c.maxPerMinute, c.maxTokensPerDay);
    this.breaker = new Breaker(options.breaker ?? DEFAULT_BREAKER);
    if (c.session) {
      const every = Math.max(50, Math.min(1000, Math.floor(c.session.idle / 2)));
      this.sweep = setInterval(() => this.flushIdle(Date.now()), every);
      this.sweep.unref();
    }
  }

  /**
   * The sample rule, the same for every version and decided before the version is known: a turn
   * is drawn at random; in session mode a conversation is in or out as a whole (salted hash).
   */
  begin(sessionKey: string | undefined): EvaluationTap | undefined {
    const c = this.options.config;
    const inSample =
      c.session && sessionKey !== undefined
        ? bucketOf(this.salt, sessionKey) < c.sample * 100
        : Math.random() < c.sample;
    return inSample && !this.closed ? new EvaluationTap(this, sessionKey) : undefined;
  }

  /** Called by a tap when its answer ended: queue it, or add it to its conversation. */
  captured(tap: EvaluationTap, requestId: string, version: string, sessionKey: string | undefined): void {
    const c = this.options.config;
    const turn = `Request:\n${requestText(tap.request.bytes())}\n\nAnswer:\n${answerText(tap.response.bytes(), tap.contentType)}`;
    if (c.session && sessionKey !== undefined) {
      let s = this.sessions.get(sessionKey);
      if (!s) {
        if (this.sessions.size >= MAX_SESSIONS) {
          this.counts.skipped++;
          return;
        }
        this.counts.sampled++;
        s = { turns: [], lastRequestId: requestId, version, mixed: false, last: 0 };
        this.sessions.set(sessionKey, s);
      }
      if (s.turns.length >= MAX_TURNS) s.turns.shift();
      s.turns.push(turn);
      s.lastRequestId = requestId;
      s.mixed ||= s.version !== version;
      s.last = Date.now();
      return;
    }
    this.counts.sampled++;
    this.enqueue({ requestId, text: turn });
  }

  /** Conversations idle for `session.idle` are evaluated as a whole, on their last turn's request. */
  flushIdle(now: number, all = false): void {
    const idle = this.options.config.session?.idle ?? 0;
    for (const [key, s] of this.sessions) {
      if (!all && now - s.last < idle) continue;
      this.sessions.delete(key);
      // A conversation that moved between versions (its bucket entered the canary) is nobody's.
      if (s.mixed) {
        this.counts.skipped++;
        continue;
      }
      const text = s.turns.map((t, i) => `Turn ${i + 1}\n${t}`).join('\n\n');
      this.enqueue({ requestId: s.lastRequestId, text });
    }
  }

  private enqueue(job: Job): void {
    if (this.queue.length >= MAX_QUEUE) {
      this.counts.skipped++;
      return;
    }
    this.queue.push(job);
    this.pump();
  }

  private pump(): void {
    while (this.running < CONCURRENCY && this.queue.length > 0 && !this.closed) {
      const job = this.queue.shift()!;
      this.running++;
      void this.run(job).finally(() => {
        this.running--;
        this.pump();
        if (this.running === 0 && this.queue.length === 0) for (const f of this.idle) f();
      });
    }
  }

  private async run(job: Job): Promise<void> {
    const c = this.options.config;
    const now = Date.now();
    if (this.budget.exhausted(now) || !this.breaker.allow(now)) {
      this.counts.skipped++;
      return;
    }
    if (this.budget.take(now) !== undefined) {
      this.breaker.release();
      this.counts.skipped++;
      return;
    }
    let completion: OpenAI.Chat.Completions.ChatCompletion;
    try {
      completion = await this.client.chat.completions.create({
        model: c.model,
        temperature: 0,
        messages: [
          { role: 'system', content: `${INSTRUCTIONS}\n\nRubric:\n${c.rubric}` },
          { role: 'user', content: job.text },
        ],
        response_format: {
          type: 'json_schema',
          json_schema: { name: 'verdict', strict: true, schema: VERDICT_JSON_SCHEMA },
        },
      });
    } catch (err) {
      this.counts.failed++;
      this.fail(describeError(err, c.timeout));
      return;
    }
    const usage = completion.usage;
    this.spend(usage?.prompt_tokens ?? 0, usage?.completion_tokens ?? 0);
    const verdict = parseVerdict(completion.choices?.[0]?.message?.content);
    if (!verdict) {
      this.counts.junk++;
      this.fail('answered something other than the verdict JSON');
      return;
    }
    this.breaker.success();
    const recorded = await this.options
      .record(job.requestId, { taskSuccess: verdict.taskSuccess, qualityScore: verdict.score })
      .catch(() => false);
    if (recorded) this.counts.recorded++;
    else this.counts.refused++;
  }

  /**
   * One call outside the sampling queue (shadow pairs, src/gateway/shadow.ts), under the same
   * per-minute budget, day's tokens and circuit breaker as the sampled grading: what it spends is
   * the agent's evaluation spend. Answers the message's content, or why there is none.
   */
  async ask(
    system: string,
    user: string,
    format: { name: string; schema: Record<string, unknown> },
  ): Promise<{ content: string } | { skipped: string } | { failed: string }> {
    const c = this.options.config;
    const now = Date.now();
    if (this.closed) return { skipped: 'closed' };
    if (this.budget.exhausted(now)) return { skipped: 'over its tokens per day' };
    if (!this.breaker.allow(now)) return { skipped: 'down' };
    if (this.budget.take(now) !== undefined) {
      this.breaker.release();
      return { skipped: 'over its calls per minute' };
    }
    let completion: OpenAI.Chat.Completions.ChatCompletion;
    try {
      completion = await this.client.chat.completions.create({
        model: c.model,
        temperature: 0,
        messages: [
          { role: 'system', content: system },
          { role: 'user', content: user },
        ],
        response_format: {
          type: 'json_schema',
          json_schema: { name: format.name, strict: true, schema: format.schema },
        },
      });
    } catch (err) {
      const reason = describeError(err, c.timeout);
      this.fail(reason);
      return { failed: reason };
    }
    this.spend(completion.usage?.prompt_tokens ?? 0, completion.usage?.completion_tokens ?? 0);
    const content = completion.choices?.[0]?.message?.content;
    if (typeof content !== 'string') {
      this.fail('answered something other than the verdict JSON');
      return { failed: 'no content' };
    }
    return { content };
  }

  /** The rubric the team wrote, for prompts built elsewhere (shadow pairs). */
  get rubric(): string {
    return this.options.config.rubric;
  }

  /** Marks a call's answer as the verdict the caller asked for (closes the breaker) or junk. */
  answered(ok: boolean): void {
    if (ok) this.breaker.success();
    else this.fail('answered something other than the verdict JSON');
  }

  private fail(reason: string): void {
    const wasOpen = this.breaker.open;
    this.breaker.failure(reason, Date.now());
    if (this.breaker.open && !wasOpen) {
      this.options.log?.(
        `${this.options.agent}: evaluator ${describeUrl(this.options.config.url)} down (${reason}); ` +
          'quality_score and task_success_rate have no data until it answers again',
      );
    }
  }

  private spend(inputTokens: number, outputTokens: number): void {
    const now = Date.now();
    this.budget.spend(inputTokens + outputTokens, now);
    const minute = Math.floor(now / MINUTE);
    const m = this.spendByMinute.get(minute) ?? { calls: 0, inputTokens: 0, outputTokens: 0 };
    const canary = this.options.currentCanary?.() ?? null;
    if (canary !== null && this.rollout?.canary !== canary) {
      this.rollout = { canary, since: now, spend: { calls: 0, inputTokens: 0, outputTokens: 0 } };
    }
    for (const into of canary !== null ? [m, this.rollout!.spend] : [m]) {
      into.calls++;
      into.inputTokens += inputTokens;
      into.outputTokens += outputTokens;
    }
    this.spendByMinute.set(minute, m);
    // A day of minutes at most.
    if (this.spendByMinute.size > 1440) {
      const oldest = this.spendByMinute.keys().next();
      if (!oldest.done) this.spendByMinute.delete(oldest.value);
    }
  }

  /** Calls and tokens spent in [since, until), at minute resolution (a minute counts when it starts inside). */
  spendBetween(since: number, until: number): EvaluatorSpend {
    const out: EvaluatorSpend = { calls: 0, inputTokens: 0, outputTokens: 0 };
    const first = Math.ceil(since / MINUTE);
    const last = Math.ceil(until / MINUTE) - 1;
    for (const [minute, m] of this.spendByMinute) {
      // The minute the range starts in counts too: a rollout's first calls are usually there.
      if (minute < first - 1 || minute > last) continue;
      out.calls += m.calls;
      out.inputTokens += m.inputTokens;
      out.outputTokens += m.outputTokens;
    }
    return out;
  }

  /** Spend since `canary` was first routed (while it stays the canary), or undefined. */
  rolloutSpend(canary: string): (EvaluatorSpend & { since: number }) | undefined {
    const r = this.rollout;
    return r && r.canary === canary ? { ...r.spend, since: r.since } : undefined;
  }

  /** Why this agent's evaluator yields no scores now (down, or the day's tokens spent), if so. */
  unavailable(now = Date.now()): string | undefined {
    const s = this.status(now);
    return s.state === 'down' || s.state === 'over budget' ? s.reason : undefined;
  }

  status(now = Date.now()): EvaluatorStatus {
    const c = this.options.config;
    const base = {
      endpoint: describeUrl(c.url),
      model: c.model,
      sample: c.sample,
      session: c.session !== undefined,
      queued: this.queue.length + this.sessions.size,
      counts: { ...this.counts },
      tokensToday: this.budget.tokensToday,
      maxTokensPerDay: c.maxTokensPerDay,
    };
    const key = this.missingKey ? ` (its key variable ${c.apiKeyEnv} is not set)` : '';
    if (this.breaker.open) {
      return {
        ...base,
        state: 'down',
        since: this.breaker.openedAt,
        reason: `evaluator ${base.endpoint} down since ${new Date(this.breaker.openedAt!).toISOString()}: ${this.breaker.reason}${key}`,
      };
    }
    if (this.budget.exhausted(now)) {
      return {
        ...base,
        state: 'over budget',
        reason: `evaluator over its budget of ${c.maxTokensPerDay} tokens per day (until 00:00 UTC)`,
      };
    }
    return { ...base, state: this.counts.recorded + this.counts.refused > 0 ? 'ok' : 'waiting' };
  }

  /** Resolves once nothing is queued or in flight (tests, shutdown). Conversations are flushed first. */
  drained(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const f = () => {
        this.idle.delete(f);
        resolve();
      };
      this.idle.add(f);
    });
  }

  close(): void {
    this.closed = true;
    if (this.sweep) clearInterval(this.sweep);
    this.queue.length = 0;
    this.sessions.clear();
  }
}

/** The verdict from the evaluator's message, or undefined for anything else (junk is no data). */
export function parseVerdict(content: string | null | undefined): EvaluatorVerdict | undefined {
  if (typeof content !== 'string') return undefined;
  let doc: unknown;
  try {
    // Some models wrap JSON in a code fence even when asked not to.
    doc = JSON.parse(content.replace(/^\s*```(?:json)?\s*|\s*```\s*$/g, ''));
  } catch {
    return undefined;
  }
  const parsed = EvaluatorVerdictSchema.safeParse(doc);
  return parsed.success ? parsed.data : undefined;
}
