// A local HTTP server that speaks the three model APIs the gateway reads usage from (OpenAI chat
// completions, the OpenAI Responses API, Anthropic messages), JSON and streamed, so the real SDK
// clients can run against it. Its behaviour is a knob: tokens per answer, delay before the first
// token, tool calls (runnable or not), how answers end.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LlmBehaviour {
  model: string;
  inputTokens: number;
  outputTokens: number;
  /** Delay before the first output of a stream (and before a JSON answer), ms. */
  firstTokenMs: number;
  /** Pieces a streamed text is sent in. */
  chunks: number;
  /** Ask for one tool call; `broken` sends arguments that are not JSON. */
  toolCall?: 'ok' | 'broken';
  /** End as if out of tokens. */
  truncated?: boolean;
  /** Output tokens vary by up to this fraction either way (uniform), as real answers do. */
  jitter?: number;
}

export interface LlmServer {
  url: string;
  requests: number;
  behaviour: LlmBehaviour;
  close(): Promise<void>;
}

const DEFAULTS: LlmBehaviour = {
  model: 'test-model',
  inputTokens: 20,
  outputTokens: 40,
  firstTokenMs: 0,
  chunks: 4,
};

function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(parts).toString('utf8')) as Record<string, unknown>);
      } catch {
        resolve({});
      }
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pieces = (b: LlmBehaviour) => Array.from({ length: Math.max(1, b.chunks) }, (_, i) => `part${i} `);
const args = (b: LlmBehaviour) => (b.toolCall === 'broken' ? '{"city": "Par' : '{"city":"Paris"}');

function json(res: ServerResponse, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function startStream(res: ServerResponse) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.flushHeaders();
}
const send = (res: ServerResponse, data: unknown, event?: string) =>
  res.write(
    `${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`,
  );

async function chat(b: LlmBehaviour, body: Record<string, unknown>, res: ServerResponse) {
  const finish = b.truncated ? 'length' : b.toolCall ? 'tool_calls' : 'stop';
  const usage = {
    prompt_tokens: b.inputTokens,
    completion_tokens: b.outputTokens,
    total_tokens: b.inputTokens + b.outputTokens,
  };
  const id = 'chatcmpl-1';
  const created = Math.floor(Date.now() / 1000);
  if (!body.stream) {
    await sleep(b.firstTokenMs);
    const message: Record<string, unknown> = {
      role: 'assistant',
      content: pieces(b).join(''),
      refusal: null,
    };
    if (b.toolCall) {
      message.tool_calls = [
        { id: 'call_1', type: 'function', function: { name: 'weather', arguments: args(b) } },
      ];
    }
    return json(res, {
      id,
      object: 'chat.completion',
      created,
      model: b.model,
      choices: [{ index: 0, message, finish_reason: finish, logprobs: null }],
      usage,
    });
  }
  startStream(res);
  const chunk = (delta: unknown, finish_reason: string | null = null) => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model: b.model,
    choices: [{ index: 0, delta, finish_reason, logprobs: null }],
  });
  send(res, chunk({ role: 'assistant', content: '' }));
  await sleep(b.firstTokenMs);
  for (const p of pieces(b)) send(res, chunk({ content: p }));
  if (b.toolCall) {
    send(
      res,
      chunk({
        tool_calls: [
          { index: 0, id: 'call_1', type: 'function', function: { name: 'weather', arguments: '' } },
        ],
      }),
    );
    send(res, chunk({ tool_calls: [{ index: 0, function: { arguments: args(b) } }] }));
  }
  send(res, chunk({}, finish));
  const opts = body.stream_options as { include_usage?: boolean } | undefined;
  if (opts?.include_usage)
    send(res, { id, object: 'chat.completion.chunk', created, model: b.model, choices: [], usage });
  send(res, '[DONE]');
  res.end();
}

async function responses(b: LlmBehaviour, body: Record<string, unknown>, res: ServerResponse) {
  const output: unknown[] = [
    {
      type: 'message',
      id: 'msg_1',
      status: 'completed',
      role: 'assistant',
      content: [{ type: 'output_text', text: pieces(b).join(''), annotations: [] }],
    },
  ];
  if (b.toolCall)
    output.push({
      type: 'function_call',
      id: 'fc_1',
      call_id: 'call_1',
      name: 'weather',
      arguments: args(b),
      status: 'completed',
    });
  const response = {
    id: 'resp_1',
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    model: b.model,
    status: b.truncated ? 'incomplete' : 'completed',
    incomplete_details: b.truncated ? { reason: 'max_output_tokens' } : null,
    output,
    usage: {
      input_tokens: b.inputTokens,
      output_tokens: b.outputTokens,
      total_tokens: b.inputTokens + b.outputTokens,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens_details: { reasoning_tokens: 0 },
    },
  };
  if (!body.stream) {
    await sleep(b.firstTokenMs);
    return json(res, response);
  }
  startStream(res);
  let seq = 0;
  send(
    res,
    {
      type: 'response.created',
      sequence_number: seq++,
      response: { ...response, status: 'in_progress', output: [], usage: null },
    },
    'response.created',
  );
  await sleep(b.firstTokenMs);
  for (const p of pieces(b)) {
    send(
      res,
      {
        type: 'response.output_text.delta',
        sequence_number: seq++,
        item_id: 'msg_1',
        output_index: 0,
        content_index: 0,
        delta: p,
      },
      'response.output_text.delta',
    );
  }
  const done = b.truncated ? 'response.incomplete' : 'response.completed';
  send(res, { type: done, sequence_number: seq++, response }, done);
  res.end();
}

async function messages(b: LlmBehaviour, body: Record<string, unknown>, res: ServerResponse) {
  const stop = b.truncated ? 'max_tokens' : b.toolCall ? 'tool_use' : 'end_turn';
  const content: unknown[] = [{ type: 'text', text: pieces(b).join('') }];
  if (b.toolCall)
    content.push({ type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Paris' } });
  const usage = { input_tokens: b.inputTokens, output_tokens: b.outputTokens };
  if (!body.stream) {
    await sleep(b.firstTokenMs);
    return json(res, {
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: b.model,
      content,
      stop_reason: stop,
      stop_sequence: null,
      usage,
    });
  }
  startStream(res);
  send(
    res,
    {
      type: 'message_start',
      message: {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: b.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: b.inputTokens, output_tokens: 1 },
      },
    },
    'message_start',
  );
  send(
    res,
    { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
    'content_block_start',
  );
  await sleep(b.firstTokenMs);
  for (const p of pieces(b))
    send(
      res,
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: p } },
      'content_block_delta',
    );
  send(res, { type: 'content_block_stop', index: 0 }, 'content_block_stop');
  if (b.toolCall) {
    send(
      res,
      {
        type: 'content_block_start',
        index: 1,
        content_block: { type: 'tool_use', id: 'toolu_1', name: 'weather', input: {} },
      },
      'content_block_start',
    );
    send(
      res,
      {
        type: 'content_block_delta',
        index: 1,
        delta: { type: 'input_json_delta', partial_json: '{"city":"Paris"}' },
      },
      'content_block_delta',
    );
    send(res, { type: 'content_block_stop', index: 1 }, 'content_block_stop');
  }
  send(
    res,
    {
      type: 'message_delta',
      delta: { stop_reason: stop, stop_sequence: null },
      usage: { output_tokens: b.outputTokens },
    },
    'message_delta',
  );
  send(res, { type: 'message_stop' }, 'message_stop');
  res.end();
}

/** Listens on loopback; paths end in /chat/completions, /responses or /messages (any prefix). */
export async function startLlmServer(behaviour: Partial<LlmBehaviour> = {}): Promise<LlmServer> {
  const s: LlmServer = {
    url: '',
    requests: 0,
    behaviour: { ...DEFAULTS, ...behaviour },
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    s.requests++;
    const path = (req.url ?? '').split('?')[0];
    void readBody(req).then((body) => {
      const j = s.behaviour.jitter ?? 0;
      const outputTokens = Math.max(
        1,
        Math.round(s.behaviour.outputTokens * (1 + j * (2 * Math.random() - 1))),
      );
      const b = { ...s.behaviour, outputTokens };
      if (path.endsWith('/chat/completions')) return chat(b, body, res);
      if (path.endsWith('/responses')) return responses(b, body, res);
      if (path.endsWith('/messages')) return messages(b, body, res);
      // An agent's own API: a JSON answer without usage.
      if (path.endsWith('/plain')) return json(res, { answer: 'no usage in here' });
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"unknown path"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  s.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  s.close = () =>
    new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  return s;
}
