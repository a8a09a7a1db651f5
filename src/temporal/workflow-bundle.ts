// The workflow code bundled once at build time (`npm run build`), so a restarted worker polls in about
// a second instead of spending 6-18 s in webpack. The bundle is used only while it is fresh: its
// manifest holds a hash of every source file webpack read, and one changed byte means "bundle again".
import { createHash } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { bundleWorkflowCode, type BundleOptions, type WorkflowBundlePath } from '@temporalio/worker';
import { z } from 'zod';

const ROOT = path.join(__dirname, '..', '..');
type WebpackConfiguration = Parameters<NonNullable<BundleOptions['webpackConfigHook']>>[0];
const workflowsPath = require.resolve('../../workflows');

/**
 * Modules the reusable V8 context instantiates once and shares between rollouts (the SDK's
 * `preloadModules`); every other module is instantiated per rollout. These are the policy, the view
 * of its state and the pure logic under them (contract, analysis words, durations): no module state,
 * no `@temporalio/workflow` (test/workflow-bundle.test.ts checks both), so sharing them cannot leak
 * one rollout into another. Shared, they cost a cached rollout ~100 KB less (bench:workflow-memory).
 */
export const SHARED_WORKFLOW_MODULES: readonly string[] = [
  require.resolve('../../workflows/policy'),
  require.resolve('../../workflows/view'),
  require.resolve('../../workflows/guards'),
  require.resolve('../../workflows/hold'),
];

/**
 * The bundle's source map without the sources and with line-only mappings. The worker keeps the
 * bundle as one string and its source map parsed (for the workflow stack traces the Web UI shows),
 * on the workflow thread: with webpack's full inline map, 2.3 MB of base64 beside 1.4 MB of code,
 * and about 10 MB of parsed mappings. Stack traces still name the TypeScript file and line.
 */
function slimSourceMap(config: WebpackConfiguration): WebpackConfiguration {
  return { ...config, devtool: 'inline-nosources-cheap-module-source-map' };
}

/** How every bundle of the workflows is made (prebuilt, at worker start, in tests). */
export const WORKFLOW_BUNDLER_OPTIONS = {
  workflowsPath,
  preloadModules: [...SHARED_WORKFLOW_MODULES],
  webpackConfigHook: slimSourceMap,
};

/**
 * The bundle in ASCII: one character beyond Latin-1 (a dash in a comment, an arrow in a message)
 * makes V8 keep the whole bundle as a two-byte string, twice its size, on the workflow thread.
 * Each such character becomes its \\u escape, which JavaScript reads as the same character in
 * strings, templates, regular expressions and comments alike.
 */
export function asciiBundle(code: string): string {
  return code.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export interface BundleFiles {
  /** The bundled code, as Worker.create's workflowBundle.codePath. */
  code: string;
  /** Its manifest: SDK version and source hashes. */
  manifest: string;
}
/** Where `npm run build` puts the bundle (lib/ is build output, never in git). */
export const DEFAULT_BUNDLE: BundleFiles = {
  code: path.join(ROOT, 'lib', 'workflow-bundle.js'),
  manifest: path.join(ROOT, 'lib', 'workflow-bundle.json'),
};

const ManifestSchema = z.object({
  /** The bundle embeds this SDK's workflow runtime; another worker version must not load it. */
  sdkVersion: z.string(),
  /** Project-relative path -> sha256 of each file the bundle was made from. */
  sources: z.record(z.string(), z.string()),
  /** The shared modules the bundle preloads (project-relative); a bundle without them is stale. */
  shared: z.array(z.string()).default([]),
});
type Manifest = z.infer<typeof ManifestSchema>;

function sdkVersion(): string {
  const pkg = readFileSync(require.resolve('@temporalio/worker/package.json'), 'utf8');
  return (JSON.parse(pkg) as { version: string }).version;
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256')
    .update(await fs.readFile(file))
    .digest('hex');
}

const quiet = {
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: () => {},
  log: () => {},
  error: console.error,
};

function sharedRelative(): string[] {
  return SHARED_WORKFLOW_MODULES.map((m) => path.relative(ROOT, m));
}

/** Bundles the workflows into lib/ with the manifest that later proves the bundle fresh. */
export async function writeWorkflowBundle(
  files: BundleFiles = DEFAULT_BUNDLE,
): Promise<{ file: string; sources: number; bytes: number }> {
  const read = new Set<string>();
  const { code } = await bundleWorkflowCode({
    ...WORKFLOW_BUNDLER_OPTIONS,
    logger: quiet,
    webpackConfigHook: (webpackConfig) => {
      const config = WORKFLOW_BUNDLER_OPTIONS.webpackConfigHook(webpackConfig);
      return {
        ...config,
        plugins: [
          ...(config.plugins ?? []),
          {
            apply(compiler) {
              compiler.hooks.afterCompile.tap('agent-canary-sources', (compilation) => {
                for (const f of compilation.fileDependencies) read.add(f);
              });
            },
          },
        ],
      };
    },
  });
  const sources: Manifest['sources'] = {};
  for (const file of [...read].sort()) {
    // The SDK's generated entry point lives in memory only; everything on disk is recorded.
    const hash = await sha256(file).catch(() => undefined);
    if (hash) sources[path.relative(ROOT, file)] = hash;
  }
  await fs.mkdir(path.dirname(files.code), { recursive: true });
  // Write the code first and the manifest last: a bundle without a manifest is never used.
  await fs.rm(files.manifest, { force: true });
  const ascii = asciiBundle(code);
  await fs.writeFile(files.code, ascii);
  const manifest: Manifest = { sdkVersion: sdkVersion(), sources, shared: sharedRelative() };
  await fs.writeFile(files.manifest, JSON.stringify(manifest, null, 1));
  return { file: files.code, sources: Object.keys(sources).length, bytes: Buffer.byteLength(ascii) };
}

/** Why the prebuilt bundle cannot be used, or null when it can. */
export async function bundleStaleness(files: BundleFiles = DEFAULT_BUNDLE): Promise<string | null> {
  let manifest: Manifest;
  try {
    manifest = ManifestSchema.parse(JSON.parse(await fs.readFile(files.manifest, 'utf8')));
    await fs.access(files.code);
  } catch {
    return 'no prebuilt bundle (npm run build makes one)';
  }
  if (manifest.sdkVersion !== sdkVersion())
    return `bundle made with @temporalio/worker ${manifest.sdkVersion}, this is ${sdkVersion()}`;
  if (manifest.shared.join('\n') !== sharedRelative().join('\n'))
    return 'the shared modules changed since the build';
  for (const [rel, hash] of Object.entries(manifest.sources)) {
    if ((await sha256(path.join(ROOT, rel)).catch(() => 'missing')) !== hash)
      return `${rel} changed since the build`;
  }
  return Object.keys(manifest.sources).length > 0 ? null : 'the bundle manifest lists no sources';
}

/** The prebuilt bundle when it matches the sources on disk; undefined means "bundle at start". */
export async function prebuiltWorkflowBundle(
  files: BundleFiles = DEFAULT_BUNDLE,
): Promise<WorkflowBundlePath | undefined> {
  return (await bundleStaleness(files)) === null ? { codePath: files.code } : undefined;
}

/**
 * Bundled workflow code made to tell what a rollout's sandbox instantiates, for the memory bench and
 * the bundle's test: evaluated in a vm context, it sets `__benchRequire` (the bundle's module loader,
 * to require one module alone) and fills `__benchLoaded` with the id of every module required
 * (e.g. "./node_modules/zod/v4/classic/schemas.js"). A module bundled but never required costs no
 * rollout anything.
 */
export function instrumentedBundle(code: string): string {
  return code
    .replace(
      'exports.importWorkflows = function importWorkflows() {',
      'globalThis.__benchRequire = __webpack_require__;\nexports.importWorkflows = function importWorkflows() {',
    )
    .replace(
      'function __webpack_require__(moduleId) {',
      'function __webpack_require__(moduleId) {\n(globalThis.__benchLoaded ??= new Set()).add(moduleId);',
    );
}

/** A vm context holding instrumented workflow code (see instrumentedBundle), as a rollout's sandbox would. */
export type InstrumentedContext = vm.Context & {
  __benchRequire: (id: string) => unknown;
  __webpack_module_cache__: Record<string, unknown>;
  __benchLoaded?: Set<string>;
};

/** The bundle's module ids of the shared modules (e.g. "./workflows/policy/index.ts"). */
export function sharedModuleIds(): string[] {
  return sharedRelative().map((rel) => `./${rel.split(path.sep).join('/')}`);
}

/**
 * One sandbox-like context running `instrumented` (the output of instrumentedBundle). `shared`, the
 * module cache of a context that required the shared modules, plays the SDK's preloaded modules:
 * this context uses those instances instead of making its own.
 */
export function instrumentedContext(
  instrumented: string,
  shared: Record<string, unknown> = {},
): InstrumentedContext {
  const ctx = vm.createContext({
    console,
    setTimeout,
    clearTimeout,
    TextEncoder,
    TextDecoder,
    URL,
    URLSearchParams,
    AbortController,
    queueMicrotask,
    __webpack_module_cache__: { ...shared },
  }) as InstrumentedContext;
  vm.runInContext(instrumented, ctx);
  return ctx;
}

if (require.main === module) {
  const started = Date.now();
  writeWorkflowBundle().then(
    (r) =>
      process.stdout.write(
        `workflow bundle: ${path.relative(process.cwd(), r.file)}, ${Math.round(r.bytes / 1024)} KiB from ${r.sources} files in ${Date.now() - started} ms\n`,
      ),
    (err: Error) => {
      process.stderr.write(`workflow bundle: ${err.message}\n`);
      process.exit(1);
    },
  );
}
