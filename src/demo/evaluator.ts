// A local evaluator for tests, the demo and getting started: a small HTTP server speaking the
// OpenAI chat-completions protocol (POST /chat/completions, also under /v1) that grades
// deterministically instead of asking a model. The gateway talks to it exactly as to OpenAI.
//
// Grading: the rubric (the system message) may list `expect: <phrase>` lines; the score is the
// share of those phrases found (case-insensitively) in the answer(s) of the transcript. The task
// succeeded when the answer contains the rubric's `success: <phrase>`, or without one when the score
// is at least 0.5. Without `expect:` lines any non-empty answer scores 1.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';

export interface LocalEvaluatorOptions {
  /** 0 (default) picks a free port. Listens on 127.0.0.1 only. */
  port?: number;
  /** When set, calls must carry `Authorization: Bearer <apiKey>` (401 otherwise), as OpenAI's do. */
  apiKey?: string;
  /**
   * Shadow pairs (response_format `preference`): how two equally graded answers are told apart.
   * 'tie' (default) says tie; 'hash' prefers by a hash of the texts, the same in both orders (an
   * evaluator with tastes unrelated to the version); 'first' always prefers answer A (a position bias).
   */
  pairs?: 'tie' | 'hash' | 'first';
  /**
   * Pair reasons quote the request, as a real evaluator's often do: what the gateway must treat as
   * user content (tests of `evaluate.keepLossReasons`).
   */
  quote?: boolean;
}

export interface LocalEvaluator {
  /** The base URL to put in `evaluate.url` (calls go to `<url>/chat/completions`). */
  url: string;
  port: number;
  /** Completions answered with a verdict so far. */
  calls(): number;
  /** Answer junk (not the verdict JSON) from now on, or stop doing so. */
  junk(on: boolean): void;
  close(): Promise<void>;
}

const RequestSchema = z.object({
  model: z.string().min(1),
  messages: z
    .array(z.object({ role: z.string(), content: z.union([z.string(), z.array(z.unknown())]) }))
    .min(1),
  response_format: z.object({
    type: z.literal('json_schema'),
    json_schema: z.object({ name: z.string(), schema: z.record(z.string(), z.unknown()) }),
  }),
});

function text(content: string | unknown[]): string {
  if (typeof content === 'string') return content;
  return content.map((p) => ((p as { text?: unknown }).text as string) ?? '').join('\n');
}

/** The answer parts of a transcript ("Answer:" sections, one per turn). */
function answers(transcript: string): string {
  const parts = transcript.split(/^Answer:$/m).slice(1);
  return parts.map((p) => p.split(/\n\nTurn \d+\n/)[0]).join('\n');
}

/** The deterministic grade of a transcript against a rubric (exported for tests and docs). */
export function grade(
  rubric: string,
  transcript: string,
): { score: number; taskSuccess: boolean; reason: string } {
  const expected = [...rubric.matchAll(/^\s*expect:\s*(.+?)\s*$/gim)].map((m) => m[1].toLowerCase());
  const answer = answers(transcript).toLowerCase();
  if (expected.length === 0) {
    const ok = answer.trim() !== '';
    return { score: ok ? 1 : 0, taskSuccess: ok, reason: ok ? 'an answer was given' : 'the answer is empty' };
  }
  const found = expected.filter((e) => answer.includes(e));
  const score = Math.round((found.length / expected.length) * 1000) / 1000;
  const success = /^\s*success:\s*(.+?)\s*$/im.exec(rubric)?.[1].toLowerCase();
  return {
    score,
    taskSuccess: success !== undefined ? answer.includes(success) : score >= 0.5,
    reason: `${found.length} of ${expected.length} expected points present`,
  };
}

/**
 * The deterministic comparison of a pair transcript ("Answer A:" and "Answer B:" sections): the
 * better graded answer wins; equal grades per `ties`. Exported for tests and docs.
 */
export function comparePair(
  rubric: string,
  transcript: string,
  ties: 'tie' | 'hash' | 'first' = 'tie',
): { better: 'A' | 'B' | 'tie'; reason: string } {
  if (ties === 'first') return { better: 'A', reason: 'the first answer reads better' };
  const m = /^Answer A:\n([\s\S]*?)\n\nAnswer B:\n([\s\S]*)$/m.exec(transcript);
  if (!m) return { better: 'tie', reason: 'no pair of answers found' };
  const a = grade(rubric, `Answer:\n${m[1]}`).score;
  const b = grade(rubric, `Answer:\n${m[2]}`).score;
  if (a !== b) return { better: a > b ? 'A' : 'B', reason: 'more expected points present' };
  if (ties === 'hash' && m[1] !== m[2]) {
    return { better: fnv(m[1]) > fnv(m[2]) ? 'A' : 'B', reason: 'equal points; preferred by taste' };
  }
  return { better: 'tie', reason: 'equal points present' };
}

function fnv(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export async function startLocalEvaluator(options: LocalEvaluatorOptions = {}): Promise<LocalEvaluator> {
  let calls = 0;
  let junk = false;
  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    const t = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(t) });
    res.end(t);
  };
  const error = (res: http.ServerResponse, status: number, message: string) =>
    send(res, status, { error: { message, type: 'invalid_request_error' } });

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 4_000_000) chunks.push(c);
    });
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0];
      if (req.method !== 'POST' || (path !== '/chat/completions' && path !== '/v1/chat/completions')) {
        return error(res, 404, 'only POST /chat/completions is served');
      }
      if (options.apiKey !== undefined && req.headers.authorization !== `Bearer ${options.apiKey}`) {
        return error(res, 401, 'missing or wrong API key');
      }
      if (size > 4_000_000) return error(res, 413, 'body too large');
      let body: z.infer<typeof RequestSchema>;
      try {
        body = RequestSchema.parse(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        return error(res, 400, 'expected a chat completion request with response_format json_schema');
      }
      const rubric = body.messages
        .filter((m) => m.role === 'system' || m.role === 'developer')
        .map((m) => text(m.content))
        .join('\n');
      const transcript = body.messages
        .filter((m) => m.role === 'user')
        .map((m) => text(m.content))
        .join('\n');
      const pair = body.response_format.json_schema.name === 'preference';
      const verdict = pair ? comparePair(rubric, transcript, options.pairs) : grade(rubric, transcript);
      if (pair && options.quote) {
        const asked = /^Request:\n([\s\S]*?)\n\nAnswer A:/m.exec(transcript)?.[1] ?? '';
        verdict.reason = `${verdict.reason} for the request "${asked}"`;
      }
      calls++;
      const content = junk ? 'I think it is pretty good!' : JSON.stringify(verdict);
      const promptTokens = Math.ceil((rubric.length + transcript.length) / 4);
      const completionTokens = Math.ceil(content.length / 4);
      send(res, 200, {
        id: `chatcmpl-local-${calls}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
        usage: {
          prompt_tokens: promptTokens,
          completion_tokens: completionTokens,
          total_tokens: promptTokens + completionTokens,
        },
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    calls: () => calls,
    junk: (on) => {
      junk = on;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
