// npm run bench:workflow-memory: what one cached rollout costs a worker, and which modules it is.
//
// The SDK's reusable V8 context (the default) evaluates the workflow bundle once, but every workflow
// gets its own module cache: each cached rollout holds its own instance of every module the workflow
// code requires (zod, the plan schemas, the SDK's workflow API, ours). This evaluates the built
// bundle (lib/workflow-bundle.js, `npm run build:workflows`) in fresh V8 contexts, requiring one
// module at a time, and reports the heap each instance keeps after a full GC. The context itself
// and the bundle's entry are measured alone and subtracted.
//
//   node --expose-gc -r ./bin/register.js bench/workflow-memory.ts     (what the npm script runs)
//
// Summary line: workflow_memory per_workflow_kb=<x> zod_kb=<x> plan_schemas_kb=<x> rollouts_1000_mb=<x>
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  instrumentedBundle,
  instrumentedContext,
  sharedModuleIds,
  type InstrumentedContext,
} from '../src/temporal/workflow-bundle';

const BUNDLE = join(__dirname, '..', 'lib', 'workflow-bundle.js');
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 20);

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  process.stderr.write('bench:workflow-memory needs node --expose-gc (npm run bench:workflow-memory)\n');
  process.exit(2);
}

let code: string;
try {
  code = readFileSync(BUNDLE, 'utf8');
} catch {
  process.stderr.write(`no ${BUNDLE}: run npm run build:workflows first\n`);
  process.exit(2);
}
// The bundle keeps its module loader to itself: expose it, and note which modules a rollout requires.
code = instrumentedBundle(code);

/** The modules the worker preloads once (SHARED_WORKFLOW_MODULES), as the SDK shares them. */
const preloaded = instrumentedContext(code);
for (const id of sharedModuleIds()) preloaded.__benchRequire(id);
const shared = { ...preloaded.__webpack_module_cache__ };

const instance = (sharing = true) => instrumentedContext(code, sharing ? shared : {});

/** KB of heap kept per instance that required `ids` (nothing: the context and the entry alone). */
function kbPer(ids: string[], sharing = true): number {
  instance(sharing);
  gc!();
  const before = process.memoryUsage().heapUsed;
  const kept: InstrumentedContext[] = [];
  for (let i = 0; i < INSTANCES; i++) {
    const ctx = instance(sharing);
    for (const id of ids) ctx.__benchRequire(id);
    kept.push(ctx);
  }
  gc!();
  const kb = (process.memoryUsage().heapUsed - before) / INSTANCES / 1024;
  kept.length = 0;
  return kb;
}

const SDK = './node_modules/@temporalio/workflow/lib/index.js';
const ZOD = './node_modules/zod/v4/classic/schemas.js';
const PLAN = './src/plan/schema.ts';
const ALL = './workflows/index.ts';

// What a rollout's sandbox instantiates: the workflows' entry and everything it requires.
const probe = instance(false);
probe.__benchRequire(ALL);
const loaded = [...(probe.__benchLoaded ?? [])];
const loads = (prefix: string) => loaded.some((id) => id.startsWith(prefix));
const zodLoaded = loads('./node_modules/zod/');
const planLoaded = loaded.includes(PLAN);

const base = kbPer([]);
const sdk = kbPer([SDK]) - base;
// zod and the plan schemas count only when a rollout instantiates them (the bundle may hold them for
// a path no current rollout takes: they cost the worker the bundle's text once, not a rollout).
const zod = zodLoaded ? kbPer([SDK, ZOD]) - base - sdk : 0;
const plan = planLoaded ? kbPer([SDK, ZOD, PLAN]) - base - sdk - zod : 0;
const all = kbPer([ALL]) - base;
const rest = all - sdk - zod - plan;
const unshared = kbPer([ALL], false) - kbPer([], false);
const sharedIds = Object.keys(shared);
const ours = loaded.filter((id) => !id.startsWith('./node_modules/')).sort();
const rows: [string, number][] = [
  ['@temporalio/workflow (the SDK in the sandbox)', sdk],
  ['zod (its own instance)', zod],
  ['plan schemas (src/plan/schema.ts)', plan],
  ['the rest (handlers, effects, messages)', rest],
  ['per cached rollout', all],
  [`the same without the ${sharedIds.length} shared modules`, unshared],
];
process.stdout.write(
  `modules a rollout instantiates: ${loaded.length} (${ours.length} of ours: ${ours.join(' ')})\n`,
);
process.stdout.write(
  `shared once per worker (the policy and what it requires, preloaded): ${sharedIds.length} modules\n`,
);
process.stdout.write(`module instances kept per cached rollout (${INSTANCES} instances, after GC):\n`);
for (const [what, kb] of rows) process.stdout.write(`  ${what.padEnd(48)} ${kb.toFixed(0).padStart(6)} KB\n`);
process.stdout.write(
  `workflow_memory per_workflow_kb=${all.toFixed(0)} zod_kb=${zod.toFixed(0)} plan_schemas_kb=${plan.toFixed(0)} ` +
    `unshared_kb=${unshared.toFixed(0)} rollouts_1000_mb=${((all * 1000) / 1024).toFixed(0)}\n`,
);
