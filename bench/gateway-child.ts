// Child processes for bench/gateway.ts, so the load generator, the gateway and the upstream each
// get their own event loop (as in production) instead of sharing one.
//   upstream <portA> <portB>   an OpenAI-style chat completion responder on two ports (= 2 versions):
//                              JSON at .../chat/completions, a streamed answer (12 events and a usage
//                              chunk, in OpenAI's include_usage shape, written at once) at .../stream/chat/completions, and the same
//                              with its first event 20 ms before the rest at .../slow-stream/...; an
//                              Anthropic messages stream (the same 12 tokens, `event:` lines, ping,
//                              message_delta usage) at .../anthropic-stream/...
//   gateway <configJson>       the agent-canary gateway
//   pipe <port> <path>         reference: a bare Node proxy (http.request + pipe, keep-alive), no
//                              routing, metrics or headers: the floor any Node gateway stands on
// Each prints one JSON line when ready, then runs until killed.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateway } from '../src/gateway';

const COMPLETION = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1,
  model: 'bench-model',
  choices: [
    { index: 0, message: { role: 'assistant', content: 'Hello from the agent.' }, finish_reason: 'stop' },
  ],
  usage: { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 },
});

// As OpenAI streams with `stream_options.include_usage` (which a gateway reading usage needs): every
// chunk carries `"usage":null` until the last, which carries the counts.
const chunk = (delta: unknown, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'bench-model', system_fingerprint: 'fp_bench', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null })}\n\n`;
const STREAM_HEAD = chunk({ role: 'assistant', content: '' }) + chunk({ content: 'Hello' });
const STREAM_REST =
  Array.from({ length: 10 }, (_, i) => chunk({ content: ` word${i}` })).join('') +
  chunk({}, 'stop') +
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'bench-model', choices: [], usage: { prompt_tokens: 5, completion_tokens: 12, total_tokens: 17 } })}\n\n` +
  'data: [DONE]\n\n';

// As Anthropic streams a message: every event named on an `event:` line, a ping, the input tokens in
// message_start and the output tokens in message_delta.
const event = (type: string, data: unknown) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
const textDelta = (text: string) =>
  event('content_block_delta', {
    type: 'content_block_delta',
    index: 0,
    delta: { type: 'text_delta', text },
  });
const ANTHROPIC_HEAD =
  event('message_start', {
    type: 'message_start',
    message: {
      id: 'msg_bench',
      type: 'message',
      role: 'assistant',
      model: 'claude-bench',
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: {
        input_tokens: 5,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        output_tokens: 1,
      },
    },
  }) +
  event('content_block_start', {
    type: 'content_block_start',
    index: 0,
    content_block: { type: 'text', text: '' },
  }) +
  'event: ping\ndata: {"type": "ping"}\n\n' +
  textDelta('Hello');
const ANTHROPIC_REST =
  Array.from({ length: 11 }, (_, i) => textDelta(` word${i}`)).join('') +
  event('content_block_stop', { type: 'content_block_stop', index: 0 }) +
  event('message_delta', {
    type: 'message_delta',
    delta: { stop_reason: 'end_turn', stop_sequence: null },
    usage: { output_tokens: 12 },
  }) +
  event('message_stop', { type: 'message_stop' });

function stream(res: http.ServerResponse, gapMs: number, head = STREAM_HEAD, rest = STREAM_REST): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.write(head);
  if (gapMs > 0) setTimeout(() => res.end(rest), gapMs);
  else res.end(rest);
}

async function upstream(): Promise<void> {
  const counts: Record<string, number> = {};
  const ports: number[] = [];
  for (const name of ['a', 'b']) {
    counts[name] = 0;
    const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
      if (req.url === '/__counts') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(counts));
        return;
      }
      counts[name]++;
      req.resume();
      req.on('end', () => {
        if (req.url?.includes('/slow-stream/')) return stream(res, 20);
        if (req.url?.includes('/anthropic-stream/')) return stream(res, 0, ANTHROPIC_HEAD, ANTHROPIC_REST);
        if (req.url?.includes('/stream/')) return stream(res, 0);
        res.writeHead(200, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(COMPLETION),
        });
        res.end(COMPLETION);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    ports.push((server.address() as AddressInfo).port);
  }
  process.stdout.write(JSON.stringify({ ports }) + '\n');
}

async function gateway(configJson: string): Promise<void> {
  const gw = await startGateway({ config: JSON.parse(configJson), adminToken: 'bench-token' });
  process.stdout.write(JSON.stringify({ url: gw.url }) + '\n');
}

async function pipe(port: string, path: string): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxFreeSockets: 256 });
  const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    const up = http.request(
      { hostname: '127.0.0.1', port: Number(port), method: req.method, path, headers: req.headers, agent },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  process.stdout.write(
    JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }) + '\n',
  );
}

/** The upstream's answers, whole (bench/usage-reader.ts reads them in-process). */
export const ANSWERS = {
  json: COMPLETION,
  openaiStream: STREAM_HEAD + STREAM_REST,
  anthropicStream: ANTHROPIC_HEAD + ANTHROPIC_REST,
};

if (require.main === module) {
  const [role, arg, arg2] = process.argv.slice(2);
  (role === 'upstream' ? upstream() : role === 'pipe' ? pipe(arg, arg2) : gateway(arg)).catch((err) => {
    process.stderr.write(String(err) + '\n');
    process.exit(1);
  });
  // Exit cleanly on a signal (so `node --cpu-prof` can write its profile when profiling the gateway).
  for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, () => process.exit(0));
}
