// Synthetic users for the demo: bounded request traffic with sticky session keys through the
// gateway (DESIGN.md §5), and the later feedback an evaluator would send for each answer.
import { z } from 'zod';
import { describeIssues } from './agents';
import { hashSeed, seededRandom } from './random';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

export const TrafficOptionsSchema = z
  .object({
    gatewayUrl: z
      .string()
      .url('must be a URL like http://127.0.0.1:8787')
      .refine((u) => !URL.canParse(u) || LOOPBACK_HOSTS.has(new URL(u).hostname), {
        message: 'must point at this machine (127.0.0.1, localhost or ::1): synthetic traffic stays local',
      }),
    agent: z.string().min(1, 'must not be empty'),
    /** Requests started per second. */
    rps: z.number().positive().max(2000, 'at most 2000 requests per second'),
    /** Distinct session keys (x-session-id) the requests are spread over. */
    sessions: z.number().int().min(1).max(1_000_000).default(50),
    /** Report each answer's outcome to POST /v1/feedback. */
    feedback: z.boolean().default(true),
    /** Ask the agents for an SSE token stream. */
    stream: z.boolean().default(false),
    /** The generator stops by itself after this long, even if nobody calls stop(). */
    maxDurationMs: z
      .number()
      .positive()
      .max(24 * 3_600_000)
      .default(15 * 60_000),
    /** Requests in flight at most; ticks beyond it are counted as dropped instead of piling up. */
    maxInFlight: z.number().int().min(1).max(10_000).default(64),
    requestTimeoutMs: z.number().positive().default(10_000),
    /** How long stop() lets requests in flight finish before cutting them off. */
    stopGraceMs: z.number().min(0).default(2_000),
    seed: z.number().int().optional(),
    /** Bearer token for POST /v1/feedback, for a gateway that requires one (its --ingest-token). */
    ingestToken: z.string().min(1).optional(),
  })
  .strict();
export type TrafficOptions = z.input<typeof TrafficOptionsSchema>;

export interface VersionTraffic {
  requests: number;
  /** 5xx answers. */
  errors: number;
  feedback: number;
}

export interface TrafficStats {
  running: boolean;
  elapsedMs: number;
  sent: number;
  /** Answers with 2xx. */
  ok: number;
  /** 5xx answers. */
  errors: number;
  /** 4xx answers (unknown agent, bad request): a setup problem, not an agent failure. */
  rejected: number;
  /** No answer: connection refused, timeout. */
  failures: number;
  dropped: number;
  feedbackSent: number;
  feedbackFailed: number;
  /** By the x-agent-version header of each answer. */
  byVersion: Record<string, VersionTraffic>;
  lastError: string | null;
}

export interface Traffic {
  stats(): TrafficStats;
  /** Stops sending, lets requests in flight finish (up to stopGraceMs), resolves with the final figures. */
  stop(): Promise<TrafficStats>;
  /** Resolves when the generator stopped (by stop() or after maxDurationMs). */
  done: Promise<TrafficStats>;
}

interface AgentAnswer {
  outcome?: { taskSuccess?: unknown; qualityScore?: unknown };
}

/** The outcome from a JSON body, or from the last SSE event that carries one. */
export function parseOutcome(contentType: string, text: string): AgentAnswer['outcome'] | undefined {
  if (contentType.includes('text/event-stream')) {
    let outcome: AgentAnswer['outcome'] | undefined;
    for (const line of text.split('\n')) {
      if (!line.startsWith('data:')) continue;
      try {
        const event = JSON.parse(line.slice(5).trim()) as AgentAnswer;
        if (event.outcome) outcome = event.outcome;
      } catch {
        // Token events and "[DONE]" markers are not outcomes.
      }
    }
    return outcome;
  }
  try {
    return (JSON.parse(text) as AgentAnswer).outcome;
  } catch {
    return undefined;
  }
}

export function startTraffic(input: TrafficOptions): Traffic {
  const parsed = TrafficOptionsSchema.safeParse(input);
  if (!parsed.success) throw new Error(`invalid traffic options: ${describeIssues(parsed.error)}`);
  const o = parsed.data;
  const base = o.gatewayUrl.replace(/\/+$/, '');
  const invokeUrl = `${base}/v1/agents/${encodeURIComponent(o.agent)}/invoke`;
  const feedbackUrl = `${base}/v1/feedback`;
  const rand = seededRandom(o.seed ?? hashSeed(o.agent));
  const startedAt = Date.now();
  const intervalMs = 1000 / o.rps;
  const inFlight = new Set<AbortController>();
  const pending = new Set<Promise<void>>();
  const s: TrafficStats = {
    running: true,
    elapsedMs: 0,
    sent: 0,
    ok: 0,
    errors: 0,
    rejected: 0,
    failures: 0,
    dropped: 0,
    feedbackSent: 0,
    feedbackFailed: 0,
    byVersion: {},
    lastError: null,
  };
  let timer: NodeJS.Timeout | undefined;
  let endedAt: number | undefined;
  let scheduled = 0;
  let resolveDone!: (stats: TrafficStats) => void;
  const done = new Promise<TrafficStats>((resolve) => (resolveDone = resolve));

  const snapshot = (): TrafficStats => ({
    ...s,
    elapsedMs: (endedAt ?? Date.now()) - startedAt,
    byVersion: Object.fromEntries(Object.entries(s.byVersion).map(([k, v]) => [k, { ...v }])),
  });
  const versionStats = (version: string): VersionTraffic =>
    (s.byVersion[version] ??= { requests: 0, errors: 0, feedback: 0 });

  async function post(url: string, body: unknown, headers: Record<string, string>, ctl: AbortController) {
    return fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.any([ctl.signal, AbortSignal.timeout(o.requestTimeoutMs)]),
    });
  }

  async function one(n: number): Promise<void> {
    const ctl = new AbortController();
    inFlight.add(ctl);
    const session = `session-${Math.floor(rand() * o.sessions)}`;
    s.sent++;
    try {
      const res = await post(
        invokeUrl,
        { input: `synthetic request ${n}`, stream: o.stream },
        { 'x-session-id': session, ...(o.stream ? { accept: 'text/event-stream' } : {}) },
        ctl,
      );
      const text = await res.text();
      const version = res.headers.get('x-agent-version') ?? '(none)';
      const v = versionStats(version);
      v.requests++;
      if (res.status >= 500) {
        s.errors++;
        v.errors++;
        return;
      }
      if (res.status >= 400) {
        s.rejected++;
        s.lastError = `gateway answered ${res.status}: ${text.slice(0, 200)}`;
        return;
      }
      s.ok++;
      if (!o.feedback) return;
      const requestId = res.headers.get('x-request-id');
      const outcome = parseOutcome(res.headers.get('content-type') ?? '', text);
      if (!requestId || !outcome) {
        s.feedbackFailed++;
        s.lastError = requestId ? 'answer carried no outcome' : 'answer carried no x-request-id header';
        return;
      }
      const fb = await post(
        feedbackUrl,
        { requestId, taskSuccess: outcome.taskSuccess, qualityScore: outcome.qualityScore },
        o.ingestToken ? { authorization: `Bearer ${o.ingestToken}` } : {},
        ctl,
      );
      await fb.arrayBuffer();
      if (fb.ok) {
        s.feedbackSent++;
        v.feedback++;
      } else {
        s.feedbackFailed++;
        s.lastError = `feedback answered ${fb.status}`;
      }
    } catch (err) {
      if (ctl.signal.aborted) return; // stopped on purpose
      s.failures++;
      s.lastError = (err as Error).cause ? String((err as Error).cause) : String(err);
    } finally {
      inFlight.delete(ctl);
    }
  }

  // Requests in flight may finish (answer and feedback) for a short grace, so the figures match what
  // the gateway saw; whatever is still pending after it is cut off.
  function finish(): void {
    if (!s.running) return;
    s.running = false;
    endedAt = Date.now();
    if (timer) clearTimeout(timer);
    const grace = setTimeout(() => {
      for (const ctl of inFlight) ctl.abort();
    }, o.stopGraceMs);
    void Promise.allSettled([...pending]).then(() => {
      clearTimeout(grace);
      resolveDone(snapshot());
    });
  }

  // Paced against the start time rather than chained delays, so the rate does not drift with load.
  function tick(): void {
    if (!s.running) return;
    const now = Date.now();
    if (now - startedAt >= o.maxDurationMs) return finish();
    const owed = Math.floor((now - startedAt) / intervalMs) + 1;
    while (scheduled < owed) {
      scheduled++;
      if (inFlight.size >= o.maxInFlight) {
        s.dropped++;
        continue;
      }
      const p = one(scheduled);
      pending.add(p);
      void p.finally(() => pending.delete(p));
    }
    const next = startedAt + scheduled * intervalMs;
    timer = setTimeout(tick, Math.max(1, Math.min(next - Date.now(), o.maxDurationMs - (now - startedAt))));
  }
  tick();

  return {
    stats: snapshot,
    stop: async () => {
      finish();
      return done;
    },
    done,
  };
}
