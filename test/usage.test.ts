// Reading usage from answers as their bytes pass: every shape we promise, split at any byte, and
// "no usage" (never zero) for anything else.
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { costOf } from '../src/gateway/price';
import { UsageReader, type Usage } from '../src/gateway/usage';

const JSON_HEADERS = { 'content-type': 'application/json' };
const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8' };

/** Feeds the body in pieces of `step` bytes (1 splits every UTF-8 sequence and every line). */
function read(body: string | Buffer, headers: Record<string, string> = JSON_HEADERS, step = 0, status = 200) {
  const r = UsageReader.forAnswer(status, headers, 0);
  if (!r) return undefined;
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  const n = step > 0 ? step : buf.length;
  for (let i = 0; i < buf.length; i += n) r.push(buf.subarray(i, i + n));
  return r.finish();
}

const sse = (events: unknown[], crlf = false) =>
  events
    .map((e) => `data: ${typeof e === 'string' ? e : JSON.stringify(e)}${crlf ? '\r\n\r\n' : '\n\n'}`)
    .join('');

describe('usage from answers', () => {
  it('reads an OpenAI chat completion: tokens, cached tokens, model, finish, tool calls', () => {
    const u = read(
      JSON.stringify({
        object: 'chat.completion',
        model: 'gpt-x',
        choices: [
          {
            message: {
              role: 'assistant',
              tool_calls: [
                { id: 'a', type: 'function', function: { name: 'f', arguments: '{"q":1}' } },
                { id: 'b', type: 'function', function: { name: 'g', arguments: '{"q":' } },
              ],
            },
            finish_reason: 'tool_calls',
          },
        ],
        usage: { prompt_tokens: 120, completion_tokens: 30, prompt_tokens_details: { cached_tokens: 100 } },
      }),
    )!;
    assert.equal(u.inputTokens, 120);
    assert.equal(u.outputTokens, 30);
    assert.equal(u.cachedInputTokens, 100);
    assert.equal(u.model, 'gpt-x');
    assert.equal(u.finish, 'tool_calls');
    assert.equal(u.toolCalls, 2);
    assert.equal(u.toolErrors, 1, 'arguments that are not a JSON object cannot be run');
    assert.equal(u.streamed, false);
  });

  it('reads a Responses API answer, incomplete for lack of tokens', () => {
    const u = read(
      JSON.stringify({
        object: 'response',
        model: 'gpt-r',
        status: 'incomplete',
        incomplete_details: { reason: 'max_output_tokens' },
        output: [{ type: 'function_call', name: 'f', arguments: '{}' }],
        usage: { input_tokens: 50, output_tokens: 64, input_tokens_details: { cached_tokens: 10 } },
      }),
    )!;
    assert.deepEqual([u.inputTokens, u.outputTokens, u.cachedInputTokens], [50, 64, 10]);
    assert.equal(u.finish, 'length');
    assert.equal(u.toolCalls, 1);
  });

  it('reads an Anthropic message, cache reads and writes counted as input', () => {
    const u = read(
      JSON.stringify({
        type: 'message',
        model: 'claude-x',
        content: [
          { type: 'text', text: 'hi' },
          { type: 'tool_use', id: 't', name: 'f', input: { a: 1 } },
        ],
        stop_reason: 'max_tokens',
        usage: {
          input_tokens: 10,
          output_tokens: 20,
          cache_read_input_tokens: 100,
          cache_creation_input_tokens: 5,
        },
      }),
    )!;
    assert.deepEqual([u.inputTokens, u.outputTokens, u.cachedInputTokens], [115, 20, 100]);
    assert.equal(u.provider, 'anthropic');
    assert.equal(u.finish, 'length');
    assert.equal(u.toolCalls, 1);
    assert.equal(u.toolErrors, 0);
  });

  it('reads any JSON answer with a usage object, also gzip-compressed', () => {
    const body = JSON.stringify({ answer: 'x', usage: { input_tokens: 3, output_tokens: 4 } });
    assert.equal(read(body)!.outputTokens, 4);
    const gz = read(gzipSync(body), { ...JSON_HEADERS, 'content-encoding': 'gzip' })!;
    assert.deepEqual([gz.inputTokens, gz.outputTokens], [3, 4]);
  });

  it('counts an unknown shape, an error, a broken body or half a count as no usage, never zero', () => {
    assert.equal(read(JSON.stringify({ answer: 'no usage here' })), undefined);
    assert.equal(read('{"usage": {"prompt_tokens": 1'), undefined, 'cut off');
    assert.equal(read('not json'), undefined);
    assert.equal(read('plain', { 'content-type': 'text/plain' }), undefined);
    assert.equal(read('{"usage":{"input_tokens":1,"output_tokens":2}}', JSON_HEADERS, 0, 500), undefined);
    const half = read(JSON.stringify({ choices: [{ finish_reason: 'stop' }], usage: { prompt_tokens: 5 } }))!;
    assert.equal(half.inputTokens, undefined, 'input without output is no token count');
    assert.equal(half.finish, 'stop', 'the finish reason still counts');
    const hostile = read(JSON.stringify({ usage: { input_tokens: -1, output_tokens: 1e12 } }))!;
    assert.equal(hostile.outputTokens, undefined);
    assert.equal(read('data: {"choices":[]}\n\n', { ...SSE_HEADERS, 'content-encoding': 'gzip' }), undefined);
  });

  it('reads an OpenAI chat stream split at every byte: first token, usage chunk, tool arguments', () => {
    const events = [
      {
        object: 'chat.completion.chunk',
        model: 'gpt-s',
        choices: [{ index: 0, delta: { role: 'assistant', content: '' } }],
      },
      { choices: [{ index: 0, delta: { content: 'héllo ✓' } }] },
      {
        choices: [
          {
            index: 0,
            delta: { tool_calls: [{ index: 0, id: 'c1', function: { name: 'f', arguments: '{"a"' } }] },
          },
        ],
      },
      { choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: ':2}' } }] } }] },
      {
        choices: [
          {
            index: 0,
            delta: { tool_calls: [{ index: 1, id: 'c2', function: { name: 'g', arguments: 'nope' } }] },
          },
        ],
      },
      { choices: [{ index: 0, delta: {}, finish_reason: 'length' }] },
      { choices: [], usage: { prompt_tokens: 7, completion_tokens: 9 } },
      '[DONE]',
    ];
    // As OpenAI sends it with include_usage: `"usage": null` in every chunk before the last.
    const withNulls = events.map((e) => (typeof e === 'string' || 'usage' in e ? e : { ...e, usage: null }));
    for (const step of [0, 1, 7]) {
      for (const [crlf, stream] of [
        [false, events],
        [true, events],
        [false, withNulls],
      ] as const) {
        const u = read(sse(stream, crlf), SSE_HEADERS, step)!;
        assert.deepEqual([u.inputTokens, u.outputTokens], [7, 9], `step ${step}`);
        assert.equal(u.model, 'gpt-s');
        assert.equal(u.finish, 'length');
        assert.equal(u.toolCalls, 2);
        assert.equal(u.toolErrors, 1);
        assert.equal(u.streamed, true);
        assert.ok(u.firstTokenMs !== undefined && u.firstTokenMs >= 0);
      }
    }
  });

  it('reads a stream without include_usage: finish and TTFT, no tokens', () => {
    const u = read(
      sse([{ choices: [{ delta: { content: 'a' } }] }, { choices: [{ delta: {}, finish_reason: 'stop' }] }]),
      SSE_HEADERS,
    )!;
    assert.equal(u.inputTokens, undefined);
    assert.equal(u.finish, 'stop');
    assert.ok(u.firstTokenMs !== undefined);
  });

  it("reads an Anthropic stream: message_start's input and message_delta's output", () => {
    const text = [
      'event: message_start',
      `data: ${JSON.stringify({ type: 'message_start', message: { model: 'claude-s', usage: { input_tokens: 11, output_tokens: 1 } } })}`,
      '',
      'event: ping',
      'data: {"type": "ping"}',
      '',
      `data: ${JSON.stringify({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } })}`,
      '',
      `data: ${JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'hi' } })}`,
      '',
      `data: ${JSON.stringify({ type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 't', name: 'f', input: {} } })}`,
      '',
      `data: ${JSON.stringify({ type: 'message_delta', delta: { stop_reason: 'refusal' }, usage: { output_tokens: 42 } })}`,
      '',
      'data: {"type":"message_stop"}',
      '',
    ].join('\n');
    const u = read(text, SSE_HEADERS, 5)!;
    assert.deepEqual([u.inputTokens, u.outputTokens], [11, 42]);
    assert.equal(u.model, 'claude-s');
    assert.equal(u.finish, 'filtered');
    assert.equal(u.toolCalls, 1);
    assert.ok(u.firstTokenMs !== undefined);
  });

  it('reads a Responses API stream from its response.completed event', () => {
    const u = read(
      sse([
        { type: 'response.created', response: { model: 'gpt-r', status: 'in_progress', output: [] } },
        { type: 'response.output_text.delta', delta: 'x' },
        {
          type: 'response.completed',
          response: {
            object: 'response',
            model: 'gpt-r',
            status: 'completed',
            output: [{ type: 'message' }, { type: 'function_call', arguments: '[1]' }],
            usage: { input_tokens: 5, output_tokens: 6 },
          },
        },
      ]),
      SSE_HEADERS,
      3,
    )!;
    assert.deepEqual([u.inputTokens, u.outputTokens, u.toolCalls, u.toolErrors], [5, 6, 1, 1]);
    assert.equal(u.finish, 'tool_calls');
    assert.ok(u.firstTokenMs !== undefined);
  });

  it('reads chat chunks as text exactly as it would parse them (LF streams against CRLF, any split)', () => {
    // LF streams take the byte path, which reads later chat chunks without JSON.parse; CRLF streams
    // are decoded and every marked event parsed. Both must say the same of every stream.
    const chunk = (choices: unknown[], usage: unknown = null, extra: Record<string, unknown> = {}) => ({
      id: 'c',
      object: 'chat.completion.chunk',
      model: 'gpt-s',
      choices,
      usage,
      ...extra,
    });
    const delta = (d: unknown, finish: unknown = null, index = 0) => ({
      index,
      delta: d,
      finish_reason: finish,
    });
    const streams: Record<string, unknown[]> = {
      'include_usage, tricky text': [
        chunk([delta({ role: 'assistant', content: '' })]),
        chunk([delta({ content: 'héllo "finish_reason":"length" "usage":{"prompt_tokens":99} \\ ✓' })]),
        chunk([delta({}, 'stop')]),
        chunk([], { prompt_tokens: 7, completion_tokens: 9, prompt_tokens_details: { cached_tokens: 3 } }),
        '[DONE]',
      ],
      'two choices, the second ends first': [
        chunk([delta({ content: 'a' }), delta({ content: 'b' }, null, 1)]),
        chunk([delta({}, null), delta({}, 'content_filter', 1)]),
        chunk([delta({}, 'stop')]),
        chunk([], { prompt_tokens: 1, completion_tokens: 2 }),
      ],
      'an escaped finish reason, a usage that is no object': [
        chunk([delta({ content: 'x' })]),
        chunk([delta({}, 'we"ird')]),
        chunk([], 5),
      ],
      'refusal first, tool calls later': [
        chunk([delta({ refusal: 'no' })]),
        chunk([delta({ tool_calls: [{ index: 0, id: 't', function: { name: 'f', arguments: '{}' } }] })]),
        chunk([delta({}, 'tool_calls')], { prompt_tokens: 4, completion_tokens: 5 }),
      ],
      'later chunks without object or model': [
        chunk([delta({ content: '' })]),
        { choices: [delta({ content: 'late' })], usage: null },
        { choices: [delta({}, 'length')], usage: null },
        { choices: [], usage: { prompt_tokens: 2, completion_tokens: 3 } },
      ],
      'no model': [
        { object: 'chat.completion.chunk', choices: [delta({ content: 'a' })] },
        { object: 'chat.completion.chunk', model: 'late-model', choices: [delta({}, 'stop')] },
      ],
    };
    const strip = (u: Usage | undefined) => {
      if (u === undefined) return u;
      const { firstTokenMs, ...rest } = u;
      return { ...rest, ttft: firstTokenMs !== undefined };
    };
    for (const [name, events] of Object.entries(streams)) {
      const parsed = strip(read(sse(events, true), SSE_HEADERS));
      assert.ok(parsed !== undefined, name);
      for (const step of [0, 1, 13, 100]) {
        assert.deepEqual(strip(read(sse(events), SSE_HEADERS, step)), parsed, `${name}, step ${step}`);
      }
    }
    const u = read(sse(streams['include_usage, tricky text']), SSE_HEADERS)!;
    assert.deepEqual([u.inputTokens, u.outputTokens, u.cachedInputTokens, u.finish], [7, 9, 3, 'stop']);
    const two = read(sse(streams['two choices, the second ends first']), SSE_HEADERS)!;
    assert.equal(two.finish, 'filtered');
    assert.equal(
      read(sse(streams['an escaped finish reason, a usage that is no object']), SSE_HEADERS)!.finish,
      'other',
    );
  });

  it('finds markers anywhere after the first output: split across chunks, spaced, on a second data line', () => {
    // After the first output the reader splits only the events around a marker into lines; here
    // the markers sit where that is easiest to get wrong. Spaced JSON as Python's json.dumps writes
    // it (`"finish_reason": "length"`, `"usage": {`); an event whose usage is on its second data
    // line, with `event:`, `id:` and comment lines around; text that looks like markers (escaped, never
    // counted); and the same stream with LF, CRLF and CR line ends, whole and in pieces of 1, 5
    // and 64 bytes (which split every marker at every place).
    const spaced = (o: unknown) => JSON.stringify(o, null, 1).replace(/\n */g, ' ');
    const chunk = (choices: unknown[], usage: unknown = null) =>
      spaced({ id: 'c', object: 'chat.completion.chunk', model: 'gpt-s', choices, usage });
    const lines = [
      `data: ${chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }])}`,
      '',
      `data: ${chunk([{ index: 0, delta: { content: 'a "usage": {"prompt_tokens": 1} "finish_reason": "stop"' }, finish_reason: null }])}`,
      '',
      ...Array.from({ length: 5 }, (_, i) => [
        ...(i === 2 ? ['event: chunk'] : []),
        `data: ${chunk([{ index: 0, delta: { content: ` w${i}` }, finish_reason: null }])}`,
        ...(i === 2 ? ['id: 7'] : []),
        '',
      ]).flat(),
      `data: ${chunk([{ index: 0, delta: {}, finish_reason: 'length' }])}`,
      '',
      ': a comment',
      'data: {"id": "c", "object": "chat.completion.chunk", "model": "gpt-s", "choices": [],',
      'data:  "usage": {"prompt_tokens": 21, "completion_tokens": 34}}',
      'id: 8',
      '',
      'data: [DONE]',
      '',
      '',
    ];
    // Also in two pieces, cut after the first output (the rest of the stream in one chunk, as a
    // server that writes it at once sends it) or anywhere later.
    const twoPieces = (body: string, cut: number) => {
      const r = UsageReader.forAnswer(200, SSE_HEADERS, 0)!;
      r.push(Buffer.from(body.slice(0, cut)));
      r.push(Buffer.from(body.slice(cut)));
      return r.finish();
    };
    for (const end of ['\n', '\r\n', '\r']) {
      const body = lines.join(end);
      const afterFirst = body.indexOf('data:', body.indexOf(' w0'));
      const reads: [string, Usage | undefined][] = [0, 1, 5, 64].map((step) => [
        `step ${step}`,
        read(body, SSE_HEADERS, step),
      ]);
      for (let cut = afterFirst; cut < body.length; cut += 37)
        reads.push([`cut at ${cut}`, twoPieces(body, cut)]);
      for (const [how, u] of reads) {
        const where = `${JSON.stringify(end)}, ${how}`;
        assert.ok(u !== undefined, where);
        assert.deepEqual(
          [u.inputTokens, u.outputTokens, u.finish, u.model],
          [21, 34, 'length', 'gpt-s'],
          where,
        );
        assert.equal(u.toolCalls, 0, where);
        assert.ok(u.firstTokenMs !== undefined, where);
      }
    }
  });

  it('an event stream of another shape is no usage', () => {
    assert.equal(read(sse([{ hello: 'world' }, '[DONE]']), SSE_HEADERS), undefined);
  });

  it('prices an answer per million tokens, cached input at its own price', () => {
    const u: Usage = {
      inputTokens: 1_000_000,
      cachedInputTokens: 500_000,
      outputTokens: 100_000,
      toolCalls: 0,
      toolErrors: 0,
      streamed: false,
    };
    assert.equal(costOf(u, { inputPerMTok: 2, outputPerMTok: 10, cachedInputPerMTok: 0.5 }), 1 + 0.25 + 1);
    assert.equal(costOf(u, { inputPerMTok: 2, outputPerMTok: 10 }), 2 + 1);
    assert.equal(
      costOf({ toolCalls: 0, toolErrors: 0, streamed: false }, { inputPerMTok: 1, outputPerMTok: 1 }),
      undefined,
    );
  });
});
