import { performance } from 'node:perf_hooks';
import { UsageReader } from '../src/gateway/usage';
import { UsageReader as Old } from '../src/gateway/old-usage-tmp';
const chunk = (delta: unknown, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'bench-model', system_fingerprint: 'fp_bench', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null })}\n\n`;
const HEAD = chunk({ role: 'assistant', content: '' }) + chunk({ content: 'Hello' });
const REST = Array.from({ length: 10 }, (_, i) => chunk({ content: ` word${i}` })).join('') + chunk({}, 'stop') +
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'bench-model', choices: [], usage: { prompt_tokens: 5, completion_tokens: 12, total_tokens: 17 } })}\n\n` + 'data: [DONE]\n\n';
const whole = [Buffer.from(HEAD), Buffer.from(REST)];
const perEvent = (HEAD + REST).split(/(?<=\n\n)/).map((e) => Buffer.from(e));
const headers = { 'content-type': 'text/event-stream' };
const best: Record<string, number> = {};
for (let round = 0; round < 15; round++) {
  for (const [name, R] of [['old', Old], ['new', UsageReader]] as const) {
    for (const [shape, chunks] of [['2 chunks', whole], ['1 event/chunk', perEvent]] as const) {
      const n = 10000; const t = performance.now();
      for (let i = 0; i < n; i++) { const x = (R as typeof UsageReader).forAnswer(200, headers, 0)!; for (const c of chunks) x.push(c); if (!x.finish()) throw new Error('no'); }
      const us = ((performance.now() - t) * 1000) / n; const k = `${name} ${shape}`; best[k] = Math.min(best[k] ?? Infinity, us);
    }
  }
}
for (const [k, v] of Object.entries(best)) console.log(k.padEnd(22), v.toFixed(2), 'us/answer (best of 15)');
