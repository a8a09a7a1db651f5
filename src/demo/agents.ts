// A stand-in for one deployed agent version: answers like an LLM agent (JSON or an SSE token
// stream), fails and lags as its profile says, and tells the caller the "true" outcome of each
// answer so the traffic generator can report it as late feedback, as an evaluator would.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { AgentProfileSchema, type AgentProfile } from './profiles';
import { hashSeed, logNormalFromQuantiles, normal, seededRandom } from './random';
import { describeZodError } from '../text/zod-problems';

export interface Outcome {
  taskSuccess: boolean;
  /** In [0, 1], rounded to 3 decimals. */
  qualityScore: number;
}

export interface Draw {
  latencyMs: number;
  error: boolean;
  outcome: Outcome;
}

export interface SimulatedAgent {
  url: string;
  version: string;
  /** What this server has answered so far. */
  served(): { requests: number; errors: number };
  close(): Promise<void>;
}

export interface SimulatedAgentOptions extends AgentProfile {
  /** 0 (default) picks a free port. The server listens on 127.0.0.1 only. */
  port?: number;
}

/** Zod problems as "field: reason" lines, so a bad option names what to fix. */
export function describeIssues(error: z.ZodError): string {
  return describeZodError(error, '(options)');
}

/** The per-request draws of a profile, separate from HTTP so the distribution can be checked exactly. */
export function createSampler(input: AgentProfile): () => Draw {
  const parsed = AgentProfileSchema.safeParse(input);
  if (!parsed.success) throw new Error(`invalid agent profile: ${describeIssues(parsed.error)}`);
  const p = parsed.data;
  const rand = seededRandom(p.seed ?? hashSeed(p.version));
  const latency = logNormalFromQuantiles(rand, p.latencyMs.median, p.latencyMs.p99);
  return () => {
    const latencyMs = latency();
    const error = rand() < p.errorRate;
    const taskSuccess = rand() < p.taskSuccessRate;
    const q = Math.min(1, Math.max(0, p.quality.mean + p.quality.sd * normal(rand)));
    return { latencyMs, error, outcome: { taskSuccess, qualityScore: Math.round(q * 1000) / 1000 } };
  };
}

/** Points a full answer makes; an answer of quality q makes the first round(q * 20) of them. */
export const ANSWER_POINTS = Array.from({ length: 20 }, (_, i) => `fact-${String(i + 1).padStart(2, '0')}`);
/** Said by an answer that solved the user's task. */
export const TASK_DONE = 'task done';

/**
 * The answer's text carries its drawn outcome as content an evaluator can grade (the local
 * evaluator's `expect:` and `success:` rubric lines, see demo/evaluator.ts), as tokens.
 */
export function answerTokens(outcome: Outcome): string[] {
  const points = ANSWER_POINTS.slice(0, Math.round(outcome.qualityScore * ANSWER_POINTS.length));
  return [
    'Sure,',
    ' here',
    ' is',
    ' what',
    ' I',
    ' found:',
    ...points.map((p) => ` ${p}`),
    '.',
    ...(outcome.taskSuccess ? [` ${TASK_DONE}.`] : []),
  ];
}

/** The rubric under which the local evaluator grades these answers as their profile drew them. */
export const DEMO_RUBRIC = [
  'A complete answer makes every point and solves the task.',
  ...ANSWER_POINTS.map((p) => `expect: ${p}`),
  `success: ${TASK_DONE}`,
].join('\n');

function wantsStream(req: http.IncomingMessage, body: string, profileStream: boolean): boolean {
  if (profileStream) return true;
  if ((req.headers.accept ?? '').includes('text/event-stream')) return true;
  try {
    return (JSON.parse(body) as { stream?: unknown })?.stream === true;
  } catch {
    return false;
  }
}

export async function startSimulatedAgent(options: SimulatedAgentOptions): Promise<SimulatedAgent> {
  const { port = 0, ...profile } = options;
  const draw = createSampler(profile);
  const stream = AgentProfileSchema.parse(profile).stream;
  const version = profile.version;
  const timers = new Set<NodeJS.Timeout>();
  let requests = 0;
  let errors = 0;

  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      if (body.length < 1_000_000) body += chunk;
    });
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, version }));
        return;
      }
      requests++;
      const arrived = performance.now();
      const d = draw();
      if (d.error) {
        errors++;
        later(d.latencyMs, () => {
          res
            .writeHead(503, { 'content-type': 'application/json', 'x-agent-version': version })
            .end(JSON.stringify({ error: 'simulated upstream failure', version }));
        });
        return;
      }
      // The latency reported is the one waited, measured: timers fire up to a millisecond early or
      // late, so the drawn value would claim a wait the answer did not make.
      const final = () => ({
        version,
        outcome: d.outcome,
        latencyMs: Math.floor(performance.now() - arrived),
      });
      if (!wantsStream(req, body, stream)) {
        later(d.latencyMs, () => {
          res
            .writeHead(200, { 'content-type': 'application/json', 'x-agent-version': version })
            .end(JSON.stringify({ ...final(), output: answerTokens(d.outcome).join('') }));
        });
        return;
      }
      // Time to first token is a fifth of the total; the rest of the tokens arrive evenly after it.
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        'x-agent-version': version,
      });
      const first = d.latencyMs * 0.2;
      const words = answerTokens(d.outcome);
      const step = (d.latencyMs - first) / words.length;
      words.forEach((token, i) => {
        later(first + i * step, () => res.write(`event: token\ndata: ${JSON.stringify({ token })}\n\n`));
      });
      later(d.latencyMs, () => {
        res.end(`event: done\ndata: ${JSON.stringify(final())}\n\n`);
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    version,
    served: () => ({ requests, errors }),
    close: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
