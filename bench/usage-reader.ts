// The usage reader's own CPU per answer, in this process, for the three answers bench/gateway.ts
// sends (a JSON chat completion, an OpenAI chat stream with include_usage, an Anthropic messages
// stream; each stream in the two chunks the bench upstream writes it in), and with BENCH_BASELINE the
// reader of another checkout interleaved with this one, round by round, so that both see the same
// machine. Best of the rounds. The gateway-level figures are bench/gateway.ts's (BENCH_MODE=usage).
//
//   node -r ./bin/register.js bench/usage-reader.ts
//   BENCH_BASELINE=<dir> ...    another checkout, e.g. git archive <commit> | tar -x -C <dir>
//                               and node_modules linked into it (as bench/gateway.ts's baseline)
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { UsageReader } from '../src/gateway/usage';
import { ANSWERS } from './gateway-child';

const ROUNDS = 21;
const PER_ROUND = 5000;

type Reader = typeof UsageReader;
const readers: [string, Reader][] = [['this', UsageReader]];
if (process.env.BENCH_BASELINE) {
  const dir = resolve(process.env.BENCH_BASELINE);
  // The baseline's TypeScript is compiled by its own hook (ours covers this checkout only).
  /* eslint-disable @typescript-eslint/no-require-imports */
  (require(join(dir, 'bin/transpile.js')) as { install: (o: object) => void }).install({ sourceMaps: false });
  const baseline = require(join(dir, 'src/gateway/usage')) as { UsageReader: Reader };
  /* eslint-enable @typescript-eslint/no-require-imports */
  readers.push(['baseline', baseline.UsageReader]);
}

/** The first two events (the upstream's first write), then the rest. */
function halves(text: string): Buffer[] {
  const b = Buffer.from(text);
  const cut = b.indexOf('\n\n', b.indexOf('\n\n') + 2) + 2;
  return [b.subarray(0, cut), b.subarray(cut)];
}

const cases: [string, Record<string, string>, Buffer[]][] = [
  ['JSON chat completion', { 'content-type': 'application/json' }, [Buffer.from(ANSWERS.json)]],
  ['OpenAI stream (14 events)', { 'content-type': 'text/event-stream' }, halves(ANSWERS.openaiStream)],
  ['Anthropic stream (18 events)', { 'content-type': 'text/event-stream' }, halves(ANSWERS.anthropicStream)],
];

const best = new Map<string, number>();
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, R] of round % 2 === 0 ? readers : [...readers].reverse()) {
    for (const [answer, headers, chunks] of cases) {
      const t = performance.now();
      for (let i = 0; i < PER_ROUND; i++) {
        const r = R.forAnswer(200, headers, 0)!;
        for (const c of chunks) r.push(c);
        if (r.finish()?.outputTokens === undefined) throw new Error(`${name}: ${answer} was not read`);
      }
      const us = ((performance.now() - t) * 1000) / PER_ROUND;
      const key = `${answer}|${name}`;
      best.set(key, Math.min(best.get(key) ?? Infinity, us));
    }
  }
}
process.stdout.write(
  `usage reader, CPU per answer in-process (node ${process.version}, best of ${ROUNDS} rounds):\n`,
);
for (const [answer] of cases) {
  const cells = readers.map(([name]) => `${name} ${best.get(`${answer}|${name}`)!.toFixed(2)} us`);
  process.stdout.write(`  ${answer.padEnd(30)} ${cells.join(', ')}\n`);
}
