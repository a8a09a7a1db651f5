import { performance } from 'node:perf_hooks';
const chunk = (delta: unknown, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'bench-model', system_fingerprint: 'fp_bench', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null })}\n\n`;
const ALL = chunk({ role: 'assistant', content: '' }) + chunk({ content: 'Hello' }) + Array.from({ length: 10 }, (_, i) => chunk({ content: ` word${i}` })).join('') + chunk({}, 'stop') +
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'bench-model', choices: [], usage: { prompt_tokens: 5, completion_tokens: 12, total_tokens: 17 } })}\n\n` + 'data: [DONE]\n\n';
const s = Buffer.from(ALL).latin1Slice();
const res: Record<string, RegExp> = {
  R5: /_reason":"|_reason": "|_calls"|_use"|usage":\{|usage": \{|\.completed"|\.incomplete"|\.failed"|\.created"/g,
  R8: /_(?:reason": ?"|calls"|use")|usage": ?\{|\.(?:completed|incomplete|failed|created)"/g,
  R9: /[_.u](?:reason": ?"|calls"|use"|sage": ?\{|completed"|incomplete"|failed"|created")/g,
  R10: /_reason":"|_reason": "|_calls"|_use"|e":\{|e": \{|\.completed"|\.incomplete"|\.failed"|\.created"/g,
  R11: /(?:_reason": ?|_calls|_use|\.completed|\.incomplete|\.failed|\.created)"|e": ?\{/g,
};
let sink = 0;
for (const [name, re] of Object.entries(res)) {
  let best = Infinity; let hits = 0;
  for (let r = 0; r < 9; r++) {
    const n = 20000; const t = performance.now();
    for (let i = 0; i < n; i++) { re.lastIndex = 0; let h = 0; while (re.exec(s)) h++; hits = h; }
    best = Math.min(best, ((performance.now() - t) * 1000) / n);
  }
  console.log(name.padEnd(6), best.toFixed(2), 'us', hits, 'hits');
}
let best = Infinity;
for (let r = 0; r < 9; r++) { const n = 20000; const t = performance.now(); for (let i = 0; i < n; i++) { let h=0; for (let j = s.indexOf('_'); j >= 0; j = s.indexOf('_', j + 1)) h++; sink+=h; } best = Math.min(best, ((performance.now() - t) * 1000) / n); }
console.log('idx_', best.toFixed(2));
