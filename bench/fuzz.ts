// `npm run fuzz`: the full seeded fuzz run over plans, workflow inputs, gateway configs, gateway
// HTTP and CLI flags (test/fuzz.ts). FUZZ_SEED picks the seed (default: a new one, printed, so a
// failure can be replayed with it); FUZZ_SCALE multiplies the case counts (default 1 = 1,009 cases).
// Exits 1 when any case did not get a clean answer, listing each.
import { runFuzz } from '../test/fuzz';

async function main(): Promise<void> {
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
  const scale = process.env.FUZZ_SCALE ? Number(process.env.FUZZ_SCALE) : 1;
  if (!Number.isInteger(seed) || !(scale > 0)) {
    process.stderr.write('FUZZ_SEED must be an integer and FUZZ_SCALE a positive number\n');
    process.exit(2);
  }
  const n = (k: number) => Math.max(1, Math.round(k * scale));
  process.stdout.write(`fuzz: seed ${seed} (replay with FUZZ_SEED=${seed})\n`);
  const report = await runFuzz({
    seed,
    plans: n(300),
    workflowInputs: n(200),
    gatewayConfigs: n(150),
    http: n(320),
    cli: n(30),
    log: (l) => process.stdout.write(`  ${l}\n`),
  });
  for (const u of report.unclean)
    process.stdout.write(`UNCLEAN [${u.area}] ${u.problem}\n  input: ${u.input}\n`);
  process.stdout.write(
    `fuzz: ${report.total} cases (${Object.entries(report.cases)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}), ${report.unclean.length} unclean, ${(report.ms / 1000).toFixed(1)} s, seed ${seed}\n`,
  );
  process.exit(report.unclean.length === 0 ? 0 : 1);
}

void main();
