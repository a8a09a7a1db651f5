// Every check's verdict of every rollout, digested: the proof that a change to the simulation (a
// speed-up of bench/traffic-sim.ts) changes no result. Run it on both checkouts and diff the output.
//   node -r ./bin/register.js bench/judge-digest.ts <rps> <runs> [model,model]
// One line per rollout: model, rate, run, checks, sha256 of the checks' verdicts (16 hex), outcome.
import { createHash } from 'node:crypto';
import { HEALTHY, seedOf, simulateRollout } from './judge-sim';
import { builtinModels } from './traffic';
import { ConversationTraffic, hashId } from './traffic-sim';

// The reason of each rollout's end with the numbers of its last check, into the digest's line.
process.env.JUDGE_SIM_REASONS = 'detail';
const rps = Number(process.argv[2]);
const runs = Number(process.argv[3]);
if (!(rps > 0) || !(runs > 0)) {
  console.error('usage: judge-digest.ts <rps> <runs> [model,model]');
  process.exit(2);
}
const only = process.argv[4]?.split(',');
for (const model of builtinModels().filter((m) => !only || only.includes(m.id))) {
  for (let r = 0; r < runs; r++) {
    const h = createHash('sha256');
    let checks = 0;
    const o = simulateRollout({
      judge: 'ours',
      stable: HEALTHY,
      canary: HEALTHY,
      requestsPerSecond: rps,
      // As trafficOutcomes seeds them: the rollouts bench:judge runs.
      seed: seedOf(42 + 7_000_003, hashId(model.id), Math.round(rps * 10), r),
      source: (rng) => new ConversationTraffic(model, rps, rng),
      onCheck: (at, stage, v) => {
        checks++;
        h.update(`${at} ${stage} ${JSON.stringify(v)}\n`);
      },
    });
    console.log(`${model.id} ${rps} ${r} ${checks} ${h.digest('hex').slice(0, 16)} ${JSON.stringify(o)}`);
  }
}
