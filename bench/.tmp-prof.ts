import { UsageReader } from '../src/gateway/usage';
const chunk = (delta: unknown, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'bench-model', system_fingerprint: 'fp_bench', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null })}\n\n`;
const HEAD = chunk({ role: 'assistant', content: '' }) + chunk({ content: 'Hello' });
const REST = Array.from({ length: 10 }, (_, i) => chunk({ content: ` word${i}` })).join('') + chunk({}, 'stop') +
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'bench-model', choices: [], usage: { prompt_tokens: 5, completion_tokens: 12, total_tokens: 17 } })}\n\n` + 'data: [DONE]\n\n';
const whole = [Buffer.from(HEAD), Buffer.from(REST)];
const headers = { 'content-type': 'text/event-stream' };
for (let i = 0; i < 400000; i++) { const x = UsageReader.forAnswer(200, headers, 0)!; for (const c of whole) x.push(c); if (!x.finish()) throw new Error('no'); }
