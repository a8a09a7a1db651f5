#!/usr/bin/env node
// Your application's side, with the official OpenAI SDK (npm install openai) as the client: the
// gateway is an OpenAI-compatible base URL per agent, and its request id (for feedback) is a header
// of the answer. docs/getting-started.md step 4 runs it:
//
//   node examples/openai-client.mjs http://127.0.0.1:8080 tiny-bot
/* global fetch */ // built into Node 18+
import OpenAI from 'openai';

const gateway = process.argv[2] ?? 'http://127.0.0.1:8080';
const agent = process.argv[3] ?? 'tiny-bot';

const client = new OpenAI({
  // The agent's invoke route, with the path your agent serves the OpenAI API under (here /v1).
  baseURL: `${gateway}/v1/agents/${agent}/invoke/v1`,
  // Sent on to your agent as it is; the gateway itself needs none for agent traffic.
  apiKey: process.env.OPENAI_API_KEY ?? 'unused-by-the-tiny-agent',
  maxRetries: 0,
});

// .withResponse() gives the HTTP response too: x-request-id is what feedback refers to.
const { data, response } = await client.chat.completions
  .create(
    { model: 'tiny', messages: [{ role: 'user', content: 'what is a canary?' }] },
    // One conversation stays on one version.
    { headers: { 'x-session-id': 'alice' } },
  )
  .withResponse();
const requestId = response.headers.get('x-request-id');
console.log(`${response.headers.get('x-agent-version')} answered: ${data.choices[0].message.content}`);
console.log(`request id: ${requestId}`);

// Later, when you know how it went (a thumbs-up, a resolved ticket):
const feedback = await fetch(`${gateway}/v1/feedback`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ requestId, taskSuccess: true, qualityScore: 0.9 }),
});
console.log(`feedback: HTTP ${feedback.status} ${await feedback.text()}`);
