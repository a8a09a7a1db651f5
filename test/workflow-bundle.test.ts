// The build-time workflow bundle: used by a worker only while it matches every source it was made
// from, and then a real worker runs rollouts from it.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import {
  asciiBundle,
  bundleStaleness,
  instrumentedBundle,
  instrumentedContext,
  prebuiltWorkflowBundle,
  sharedModuleIds,
  writeWorkflowBundle,
  type BundleFiles,
} from '../src/temporal/workflow-bundle';
import { resolvePlan } from '../src/plan';
import { WORKFLOW_TYPE, statusQuery, workflowIdFor } from '../workflows/messages';
import { testEnv, uniqueName } from './harness';

describe('prebuilt workflow bundle', function () {
  this.timeout(120_000);
  let dir: string;
  let files: BundleFiles;
  let manifest: { sdkVersion: string; sources: Record<string, string>; shared: string[] };

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agent-canary-bundle-'));
    files = { code: path.join(dir, 'workflow-bundle.js'), manifest: path.join(dir, 'workflow-bundle.json') };
    await writeWorkflowBundle(files);
    manifest = JSON.parse(await fs.readFile(files.manifest, 'utf8'));
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  const withManifest = async (change: (m: typeof manifest) => void) => {
    const copy = structuredClone(manifest);
    change(copy);
    const other = { ...files, manifest: path.join(dir, `manifest-${uniqueName('m')}.json`) };
    await fs.writeFile(other.manifest, JSON.stringify(copy));
    return other;
  };

  it('records the workflow sources and the dependencies bundled with them', () => {
    const sources = Object.keys(manifest.sources);
    for (const f of [
      'workflows/canary.ts',
      'workflows/messages.ts',
      'workflows/policy/index.ts',
      'workflows/guards.ts',
      'src/contract/names.ts',
    ])
      assert.ok(sources.includes(f), `${f} missing from the manifest`);
    // An upgraded dependency changes the bundle too: zod and the SDK's workflow runtime are in it.
    for (const dep of ['node_modules/zod/', 'node_modules/@temporalio/workflow/'])
      assert.ok(
        sources.some((f) => f.startsWith(dep)),
        `nothing from ${dep} in the manifest`,
      );
  });

  it('a rollout instantiates the contract, the policy and the SDK: no zod, no plan parser', () => {
    const ctx = instrumentedContext(instrumentedBundle(testEnv().workflowBundle.code));
    ctx.__benchRequire('./workflows/index.ts');
    const loaded = [...(ctx.__benchLoaded ?? [])];
    assert.ok(loaded.includes('./workflows/canary.ts'), loaded.join(' '));
    const heavy = loaded.filter((id) => /node_modules\/zod\/|src\/plan\/(schema|resolve)\.ts/.test(id));
    assert.deepEqual(heavy, [], 'modules every cached rollout would hold');
  });

  it('shares the policy between rollouts only where no rollout state can live', async () => {
    const ctx = instrumentedContext(instrumentedBundle(testEnv().workflowBundle.code));
    const atStart = new Set(ctx.__benchLoaded);
    for (const id of sharedModuleIds()) ctx.__benchRequire(id);
    const shared = [...(ctx.__benchLoaded ?? [])].filter((id) => !atStart.has(id));
    assert.ok(shared.includes('./workflows/policy/index.ts') && shared.length > 10, shared.join(' '));
    // The SDK's workflow API reads the running rollout: a shared module must not reach it, nor
    // anything else outside the project's own pure code.
    assert.deepEqual(
      shared.filter((id) => id.startsWith('./node_modules/')),
      [],
    );
    // Module-level variables would be one value for every rollout on the worker.
    for (const id of shared) {
      const source = await fs.readFile(path.join(__dirname, '..', id), 'utf8');
      const mutable = source.split('\n').filter((line) => /^(export )?(let|var) /.test(line));
      assert.deepEqual(mutable, [], `${id} keeps module state`);
    }
    // A rollout makes its own instances of the rest and takes the shared ones as they are.
    const rollout = instrumentedContext(instrumentedBundle(testEnv().workflowBundle.code), {
      ...ctx.__webpack_module_cache__,
    });
    rollout.__benchRequire('./workflows/index.ts');
    const cache = rollout.__webpack_module_cache__;
    assert.ok(cache['./workflows/canary.ts'] && !ctx.__webpack_module_cache__['./workflows/canary.ts']);
    for (const id of shared) assert.equal(cache[id], ctx.__webpack_module_cache__[id], id);
    assert.deepEqual(
      manifest.shared,
      sharedModuleIds().map((id) => id.slice(2)),
    );
  });

  it('escapes what is not ASCII so that the code reads the same', () => {
    const source =
      'const a = `x → ${1}…`; const r = /é😀/u; // a dash — in a comment\n' +
      "module.exports = [a, r.test('é😀'), '✖'];";
    const ascii = asciiBundle(source);
    assert.doesNotMatch(ascii, /[\u0080-\uffff]/);
    const m: { exports: unknown } = { exports: undefined };
    new Function('module', ascii)(m);
    assert.deepEqual(m.exports, ['x → 1…', true, '✖']);
  });

  it('is stale once the shared modules differ', async () => {
    const other = await withManifest((m) => (m.shared = ['workflows/view.ts']));
    assert.equal(await bundleStaleness(other), 'the shared modules changed since the build');
  });

  it('is fresh as built, and a worker created from it runs a workflow task', async () => {
    assert.equal(await bundleStaleness(files), null);
    const bundle = await prebuiltWorkflowBundle(files);
    assert.deepEqual(bundle, { codePath: files.code });
    const env = testEnv();
    const taskQueue = uniqueName('bundle');
    const worker = await Worker.create({
      connection: env.nativeConnection,
      namespace: env.namespace,
      taskQueue,
      workflowBundle: bundle!,
    });
    const agent = uniqueName('bundle');
    const plan = resolvePlan({
      agent,
      stable: 'v1',
      canary: 'v2',
      stages: [{ weight: 20, observe: '1m' }, { weight: 100 }],
    });
    const handle = await env.client.workflow.start(WORKFLOW_TYPE, {
      // Resolved here, as agent-canary's clients do: no activity needed to start.
      args: [plan, { planChecked: true }],
      taskQueue,
      workflowId: workflowIdFor(agent),
    });
    try {
      // Only the bundled workflow code can answer this query (no activities are registered here).
      // The Web UI's stack trace of a running rollout names the TypeScript file and line, through
      // the bundle's slim source map (no sources, line-only mappings), and the bundle is ASCII.
      const [status, stack] = await worker.runUntil(
        (async () =>
          [await handle.query(statusQuery), await handle.query<string>('__stack_trace')] as const)(),
      );
      assert.equal(status.agent, agent);
      assert.match(stack, /workflows\/canary\.ts:\d+/, stack);
      assert.doesNotMatch(await fs.readFile(files.code, 'utf8'), /[\u0080-\uffff]/);
    } finally {
      await handle.terminate('test over');
    }
  });

  it('is stale once any recorded source differs, naming the file', async () => {
    const other = await withManifest((m) => (m.sources['workflows/canary.ts'] = '0'.repeat(64)));
    assert.equal(await bundleStaleness(other), 'workflows/canary.ts changed since the build');
    assert.equal(await prebuiltWorkflowBundle(other), undefined);
  });

  it('is stale for another SDK version or a missing file', async () => {
    const sdk = await withManifest((m) => (m.sdkVersion = '0.0.1'));
    assert.match((await bundleStaleness(sdk))!, /@temporalio\/worker 0\.0\.1/);
    const gone = await withManifest((m) => (m.sources['workflows/gone.ts'] = 'x'));
    assert.match((await bundleStaleness(gone))!, /workflows\/gone\.ts changed/);
    const none = { code: path.join(dir, 'none.js'), manifest: path.join(dir, 'none.json') };
    assert.match((await bundleStaleness(none))!, /no prebuilt bundle/);
  });
});
