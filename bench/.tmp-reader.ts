import { performance } from 'node:perf_hooks';
import { UsageReader } from '../src/gateway/usage';
const chunk = (delta: unknown, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'bench-model', system_fingerprint: 'fp_bench', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null })}\n\n`;
const HEAD = chunk({ role: 'assistant', content: '' }) + chunk({ content: 'Hello' });
const REST = Array.from({ length: 10 }, (_, i) => chunk({ content: ` word${i}` })).join('') + chunk({}, 'stop') +
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'bench-model', choices: [], usage: { prompt_tokens: 5, completion_tokens: 12, total_tokens: 17 } })}\n\n` + 'data: [DONE]\n\n';
const h = Buffer.from(HEAD), r = Buffer.from(REST);
console.log('bytes', h.length + r.length);
const headers = { 'content-type': 'text/event-stream' };
for (let round = 0; round < 5; round++) {
  const n = 50000; const t = performance.now();
  for (let i = 0; i < n; i++) { const x = UsageReader.forAnswer(200, headers, 0)!; x.push(h); x.push(r); if (!x.finish()) throw new Error('no'); }
  console.log(((performance.now() - t) * 1000 / n).toFixed(2), 'us/answer');
}
const x = UsageReader.forAnswer(200, headers, 0)!; x.push(h); x.push(r); console.log(x.finish());
