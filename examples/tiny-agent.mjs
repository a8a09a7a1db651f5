#!/usr/bin/env node
// A tiny "agent" for docs/getting-started.md: an HTTP service that answers any POST with JSON, no
// dependencies. POST .../chat/completions gets an OpenAI-style chat completion, so the official
// OpenAI SDK can be its client (examples/openai-client.mjs). Run two versions side by side:
//
//   VERSION=v1 PORT=9101 node examples/tiny-agent.mjs
//   VERSION=v2 PORT=9102 node examples/tiny-agent.mjs
//   VERSION=v2 PORT=9102 ERROR_RATE=0.3 node examples/tiny-agent.mjs   # a broken canary, to see a rollback
//
// Replace it with your own agent: the gateway forwards any JSON or streaming API as it is.
import { createServer } from 'node:http';
import { URL } from 'node:url';

const version = process.env.VERSION ?? 'v1';
const port = Number(process.env.PORT ?? 9101);
const errorRate = Number(process.env.ERROR_RATE ?? 0);
const delayMs = Number(process.env.DELAY_MS ?? 20);
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be 0-65535, got ${port}`);
if (!(errorRate >= 0 && errorRate <= 1)) throw new Error(`ERROR_RATE must be 0-1, got ${errorRate}`);
if (!(delayMs >= 0 && delayMs <= 60_000)) throw new Error(`DELAY_MS must be 0-60000, got ${delayMs}`);

const server = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => {
    body += chunk;
    if (body.length > 64 * 1024) req.destroy(); // a tiny agent takes tiny questions
  });
  req.on('end', () => {
    let question = '';
    const chat = /\/chat\/completions\/?$/.test(new URL(req.url ?? '/', 'http://agent').pathname);
    try {
      const parsed = JSON.parse(body || '{}');
      question = chat
        ? String([...(parsed.messages ?? [])].reverse().find((m) => m?.role === 'user')?.content ?? '')
        : String(parsed.question ?? '');
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'body must be JSON, e.g. {"question": "..."}' }));
      return;
    }
    setTimeout(() => {
      if (Math.random() < errorRate) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'the model call failed', version }));
        return;
      }
      const answer = `(${version}) you asked: ${question.slice(0, 200)}`;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(chat ? chatCompletion(answer) : { version, answer }));
    }, delayMs);
  });
});

/** The answer as an OpenAI chat completion (the fields the SDKs read). */
function chatCompletion(answer) {
  return {
    id: `chatcmpl-${Math.random().toString(36).slice(2)}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: `tiny-agent-${version}`,
    choices: [{ index: 0, message: { role: 'assistant', content: answer }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
  };
}

server.listen(port, '127.0.0.1', () => {
  // The test (and you) read the port from this line; PORT=0 picks a free one.
  console.log(`tiny-agent ${version} listening on http://127.0.0.1:${server.address().port}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
