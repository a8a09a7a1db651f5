import { performance } from 'node:perf_hooks';
const chunk = (delta: unknown, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'bench-model', system_fingerprint: 'fp_bench', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null })}\n\n`;
const ALL = chunk({ role: 'assistant', content: '' }) + chunk({ content: 'Hello' }) + Array.from({ length: 10 }, (_, i) => chunk({ content: ` word${i}` })).join('') + chunk({}, 'stop') +
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'bench-model', choices: [], usage: { prompt_tokens: 5, completion_tokens: 12, total_tokens: 17 } })}\n\n` + 'data: [DONE]\n\n';
const buf = Buffer.from(ALL);
const events = ALL.split('\n\n').filter(Boolean).map((e) => Buffer.from(e + '\n\n'));
const MARKERS = /(?<="finish)_reason": ?"|(?<="tool)_(?:calls|use)"|(?<="usage": ?)\{|(?<="response)\.(?:completed|incomplete|failed|created)"/g;
const NOLB = /_reason": ?"|"tool_(?:calls|use)"|"usage": ?\{|"response\.(?:completed|incomplete|failed|created)"/g;
const NEEDLES = ['_reason":"', '_reason": "', '"tool_calls"', '"tool_use"', '"usage":{', '"usage": {', '"response.'];
const BNEEDLES = NEEDLES.map((n) => Buffer.from(n));
let sink = 0;
const cases: Record<string, (b: Buffer) => void> = {
  regexLB: (b) => { const s = b.latin1Slice(0, b.length); MARKERS.lastIndex = 0; while (MARKERS.exec(s)) sink++; },
  regexNoLB: (b) => { const s = b.latin1Slice(0, b.length); NOLB.lastIndex = 0; while (NOLB.exec(s)) sink++; },
  strIndexOf: (b) => { const s = b.latin1Slice(0, b.length); for (const n of NEEDLES) { for (let i = s.indexOf(n); i >= 0; i = s.indexOf(n, i + 1)) sink++; } },
  bufIndexOf: (b) => { for (const n of BNEEDLES) { for (let i = b.indexOf(n); i >= 0; i = b.indexOf(n, i + 1)) sink++; } },
  latin1Only: (b) => { sink += b.latin1Slice(0, b.length).length; },
  nlOnly: (b) => { for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) sink++; },
};
for (const [mode, inputs] of [['whole', [buf]], ['perEvent', events]] as const) {
  for (const [name, f] of Object.entries(cases)) {
    let best = Infinity;
    for (let r = 0; r < 7; r++) {
      const n = 20000; const t = performance.now();
      for (let i = 0; i < n; i++) for (const b of inputs) f(b);
      best = Math.min(best, ((performance.now() - t) * 1000) / n);
    }
    console.log(mode.padEnd(9), name.padEnd(11), best.toFixed(2), 'us/stream');
  }
}
console.log(sink > 0);
