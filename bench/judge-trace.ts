// Traces rollouts of one conversation model: every check's time, stage and metric statuses, so a
// withdrawn healthy canary shows which stage and metric held it and with how much data.
//   node -r ./bin/register.js bench/judge-trace.ts <model> <rps> <runs> [seed] [--all]
import { HEALTHY, seedOf, simulateRollout } from './judge-sim';
import { builtinModels } from './traffic';
import { ConversationTraffic } from './traffic-sim';

const [id, rpsArg, runsArg, seedArg] = process.argv.slice(2);
const model = builtinModels().find((m) => m.id === id);
if (!model) throw new Error(`no model ${id}`);
const rps = Number(rpsArg ?? 1);
const runs = Number(runsArg ?? 10);
const base = Number(seedArg ?? 42);
const all = process.argv.includes('--all');
let h = 2166136261;
for (let i = 0; i < model.id.length; i++) h = Math.imul(h ^ model.id.charCodeAt(i), 16777619);
for (let r = 0; r < runs; r++) {
  const lines: string[] = [];
  const out = simulateRollout({
    judge: 'ours',
    stable: HEALTHY,
    canary: HEALTHY,
    requestsPerSecond: rps,
    seed: seedOf(base + 7_000_003, (h >>> 0) % 1000, Math.round(rps * 10), r),
    source: (rng) => new ConversationTraffic(model, rps, rng),
    onCheck: (at, stage, v) => {
      const ms = v.metrics.map((m) => `${m.metric.slice(0, 7)}=${m.status.slice(0, 4)}`).join(' ');
      lines.push(`  ${(at / 60_000).toFixed(0).padStart(4)}m s${stage + 1} ${v.verdict.slice(0, 4)} ${ms}`);
    },
  });
  if (out.result === 'promoted' && !all) continue;
  console.log(`run ${r}: ${out.result} at ${out.minutes.toFixed(0)}m: ${(out.reason ?? '').slice(0, 160)}`);
  if (process.argv.includes('--passes')) {
    // Per stage: when it began and when each metric first passed in it.
    const first = new Map<string, string>();
    for (const l of lines) {
      const [t, st, , ...ms] = l.trim().split(/\s+/);
      if (!first.has(st)) first.set(st, `${st}@${t}`);
      for (const m of ms) {
        const [name, status] = m.split('=');
        if (status === 'pass' && !first.has(`${st}${name}`)) first.set(`${st}${name}`, `${name}@${t}`);
      }
    }
    console.log(`  ${[...first.values()].join(' ')}`);
    continue;
  }
  // Stage changes and the last few checks.
  let last = '';
  lines.forEach((l, i) => {
    const st = l.slice(8, 11);
    if (st !== last || i >= lines.length - 3) console.log(l);
    last = st;
  });
}
