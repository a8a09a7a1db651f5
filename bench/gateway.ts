// Gateway benchmark: added latency and maximum throughput through the agent-canary gateway, compared
// with going straight to the upstream and with the Portkey AI gateway doing the same two-target
// weighted routing. Same machine, same upstream, same requests, one run, loopback only.
// Reading usage from the answers is measured side by side: `gateway` reads them (the default),
// `gw-nouse` is the same gateway with `usage: false`, both for JSON answers and for streamed ones
// (`-sse` targets), and the time to the first chunk of a stream is measured through each; the
// throughput with reading on against off is then measured paired (ABBA rounds, see pairedUsage) for
// JSON answers, an OpenAI chat stream and an Anthropic messages stream.
//
//   npm run bench:gateway            (about five minutes; BENCH_QUICK=1 for a shorter smoke run)
//                                    Run it with the Node the gateway runs on (24 in the image;
//                                    V8 versions differ a lot on regular expressions).
//   BENCH_BASELINE=<dir> ...         also another checkout's gateway (e.g. `git archive <commit>`
//                                    unpacked, node_modules linked): a change measured side by side
//   BENCH_MODE=evaluation            only the online evaluator's effect on latency (on vs off)
//   BENCH_MODE=usage                 only usage reading on against off, paired (about 2.5 minutes);
//                                    with BENCH_AA=1 off against off (the measurement's own noise);
//                                    BENCH_USAGE_KINDS=sse (json, sse, anthropic) only those pairs
//   BENCH_MODE=shadow                only a shadow stage's effect on the user's latency (on vs off)
//   BENCH_NODE_FLAGS='...'           Node flags for the proxies (default --max-semi-space-size=64);
//   BENCH_BASELINE_NODE_FLAGS='...'  for the baseline only (default: the same)
//
// Processes: the upstream (two ports = two agent versions), the gateway and Portkey each run in their
// own Node process; this process generates load. Latency is measured with a sequential keep-alive
// loop (one request in flight: the "low load" case), one request per target in turn so drift and
// other load hit all alike (Portkey in a phase of its own with direct, see below); throughput with
// autocannon at a fixed concurrency, in interleaved rounds.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { UsageReader } from '../src/gateway/usage';

const QUICK = process.env.BENCH_QUICK === '1';
const LATENCY_SAMPLES = QUICK ? 800 : 3000;
const WARMUP = QUICK ? 300 : 1000;
// Throughput: each target gets LOAD_ROUNDS runs of ROUND_SECONDS, interleaved (round r starts at
// target r), after one unscored warm-up run each, so drift in the machine's other load hits all alike.
const LOAD_ROUNDS = QUICK ? 2 : 4;
const ROUND_SECONDS = QUICK ? 2 : 3;
const CONNECTIONS = 32;
const CANARY_WEIGHT = 50;
const ROOT = join(__dirname, '..');
// Node flags for every proxy under test (gateway, baseline, node-pipe, Portkey), not for the upstream
// or this load generator, which all contenders share. The default is the setting docs/gateway.md
// recommends for the gateway: a larger young generation, so scavenges run less often.
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '--max-semi-space-size=64').split(/\s+/).filter(Boolean);
const BASELINE_FLAGS = (process.env.BENCH_BASELINE_NODE_FLAGS ?? NODE_FLAGS.join(' '))
  .split(/\s+/)
  .filter(Boolean);

const TTFC_SAMPLES = QUICK ? 100 : 300;
const CHAT_BODY = JSON.stringify({
  model: 'bench-model',
  messages: [{ role: 'user', content: 'Where is my order #1234?' }],
});

interface Target {
  name: string;
  url: string;
  headers: Record<string, string>;
  /** The process doing this target's routing work, for CPU per request. */
  pid: number;
}

/** CPU ms (user + system) a process has used so far; Linux /proc, undefined elsewhere. */
function cpuMs(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in 1/100 s ticks
  } catch {
    return undefined;
  }
}

const children: ChildProcess[] = [];
function cleanup() {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

/** Spawns a child and resolves with the first stdout line matching `ready` (or rejects). */
function spawnChild(
  cmd: string,
  args: string[],
  ready: (line: string) => unknown,
  what: string,
  env?: Record<string, string>,
): Promise<{ value: unknown; pid: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: env ? { ...process.env, ...env } : process.env,
    });
    children.push(child);
    let out = '';
    let err = '';
    const timer = setTimeout(
      () => reject(new Error(`${what} not ready after 30 s: ${err.slice(-500)}`)),
      30_000,
    );
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      for (const line of out.split('\n')) {
        const v = ready(line);
        if (v !== undefined) {
          clearTimeout(timer);
          resolve({ value: v, pid: child.pid! });
          return;
        }
      }
    });
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}: ${err.slice(-800)}`));
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function once(t: Target): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = http.request(
      t.url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(CHAT_BODY),
          ...t.headers,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`${t.name}: HTTP ${res.statusCode}`));
          else resolve(performance.now() - started);
        });
      },
    );
    req.on('error', reject);
    req.end(CHAT_BODY);
  });
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Time to the first body chunk of one streamed answer (the answer read to its end). */
function firstChunk(t: Target): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let first: number | undefined;
    const req = http.request(
      t.url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(CHAT_BODY) },
      },
      (res) => {
        res.on('data', () => (first ??= performance.now() - started));
        res.on('end', () => {
          if (res.statusCode !== 200 || first === undefined)
            reject(new Error(`${t.name}: HTTP ${res.statusCode}`));
          else resolve(first);
        });
      },
    );
    req.on('error', reject);
    req.end(CHAT_BODY);
  });
}

/** Time to first chunk per target, interleaved as latency() does. */
async function ttfc(targets: Target[]): Promise<Map<string, { p50: number; p99: number }>> {
  for (const t of targets) for (let i = 0; i < 20; i++) await firstChunk(t);
  const samples = new Map<string, number[]>(targets.map((t) => [t.name, []]));
  for (let i = 0; i < TTFC_SAMPLES; i++) {
    for (let k = 0; k < targets.length; k++) {
      const t = targets[(i + k) % targets.length];
      samples.get(t.name)!.push(await firstChunk(t));
    }
  }
  const out = new Map<string, { p50: number; p99: number }>();
  for (const [name, v] of samples) {
    v.sort((a, b) => a - b);
    out.set(name, { p50: percentile(v, 0.5), p99: percentile(v, 0.99) });
  }
  return out;
}

async function latency(targets: Target[]): Promise<Map<string, { p50: number; p99: number; n: number }>> {
  for (const t of targets) for (let i = 0; i < WARMUP; i++) await once(t);
  const samples = new Map<string, number[]>(targets.map((t) => [t.name, []]));
  // One request per target in turn, starting each round at the next target: whatever else the machine
  // does, and whatever the previous request left behind (caches, idle cores), hits every target alike.
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    for (let k = 0; k < targets.length; k++) {
      const t = targets[(i + k) % targets.length];
      samples.get(t.name)!.push(await once(t));
    }
  }
  const out = new Map<string, { p50: number; p99: number; n: number }>();
  for (const [name, s] of samples) {
    s.sort((a, b) => a - b);
    out.set(name, { p50: percentile(s, 0.5), p99: percentile(s, 0.99), n: s.length });
  }
  return out;
}

interface Load {
  rps: number;
  non2xx: number;
  errors: number;
  total: number;
  seconds: number;
  cpuMs?: number;
  cpuUsPerRequest?: number;
}

/** One autocannon run at CONNECTIONS connections for `seconds` against one target. */
async function load(t: Target, seconds: number): Promise<Load> {
  const cpuBefore = cpuMs(t.pid);
  const result = await autocannon({
    url: t.url,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...t.headers },
    body: CHAT_BODY,
    connections: CONNECTIONS,
    duration: seconds,
  });
  const cpuAfter = cpuMs(t.pid);
  return {
    rps: result.requests.total / seconds,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    total: result.requests.total,
    seconds,
    cpuMs: cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : undefined,
  };
}

function sumLoads(runs: Load[]): Load {
  const total = runs.reduce((a, r) => a + r.total, 0);
  const seconds = runs.reduce((a, r) => a + r.seconds, 0);
  const cpu = runs.every((r) => r.cpuMs !== undefined) ? runs.reduce((a, r) => a + r.cpuMs!, 0) : undefined;
  return {
    rps: total / seconds,
    non2xx: runs.reduce((a, r) => a + r.non2xx, 0),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    total,
    seconds,
    cpuMs: cpu,
    cpuUsPerRequest: cpu !== undefined && total > 0 ? (cpu * 1000) / total : undefined,
  };
}

async function counts(port: number): Promise<Record<string, number>> {
  const res = await fetch(`http://127.0.0.1:${port}/__counts`);
  return (await res.json()) as Record<string, number>;
}

async function main() {
  const t0 = Date.now();
  const childArgs = ['-r', './bin/register.js', 'bench/gateway-child.ts'];
  const json = (l: string) => (l.startsWith('{') ? JSON.parse(l) : undefined);
  const upstream = await spawnChild(process.execPath, [...childArgs, 'upstream'], json, 'upstream');
  const [pa, pb] = (upstream.value as { ports: [number, number] }).ports;

  const config = {
    agents: {
      bot: { stable: 'v1', versions: { v1: `http://127.0.0.1:${pa}/v1`, v2: `http://127.0.0.1:${pb}/v1` } },
    },
  };
  const gwChild = await spawnChild(
    process.execPath,
    [...NODE_FLAGS, ...childArgs, 'gateway', JSON.stringify(config)],
    json,
    'gateway',
  );
  const gwUrl = (gwChild.value as { url: string }).url;
  // The same gateway with reading usage off, for the side-by-side figures.
  const offChild = await spawnChild(
    process.execPath,
    [...NODE_FLAGS, ...childArgs, 'gateway', JSON.stringify({ ...config, usage: false })],
    json,
    'gateway without usage',
  );
  const offUrl = (offChild.value as { url: string }).url;
  // BENCH_BASELINE=<another checkout of this repo>: its gateway too, as target "baseline", in the same
  // run (same upstream, load and machine), to measure a change side by side.
  const baselineDir = process.env.BENCH_BASELINE;
  const baseline = baselineDir
    ? await spawnChild(
        process.execPath,
        [
          ...BASELINE_FLAGS,
          '-r',
          join(baselineDir, 'bin/register.js'),
          join(baselineDir, 'bench/gateway-child.ts'),
          'gateway',
          JSON.stringify(config),
        ],
        json,
        'baseline gateway',
      )
    : undefined;
  const pipeChild = await spawnChild(
    process.execPath,
    [...NODE_FLAGS, ...childArgs, 'pipe', String(pa), '/v1/chat/completions'],
    json,
    'pipe',
  );
  const put = await fetch(`${gwUrl}/v1/admin/agents/bot/split`, {
    method: 'PUT',
    headers: { authorization: 'Bearer bench-token', 'content-type': 'application/json' },
    body: JSON.stringify({ stable: 'v1', canary: 'v2', canaryWeight: CANARY_WEIGHT, leaseMs: 3_600_000 }),
  });
  if (!put.ok) throw new Error(`could not set the gateway split: ${await put.text()}`);
  await fetch(`${offUrl}/v1/admin/agents/bot/split`, {
    method: 'PUT',
    headers: { authorization: 'Bearer bench-token', 'content-type': 'application/json' },
    body: JSON.stringify({ stable: 'v1', canary: 'v2', canaryWeight: CANARY_WEIGHT, leaseMs: 3_600_000 }),
  });
  if (baseline) {
    const u = (baseline.value as { url: string }).url;
    await fetch(`${u}/v1/admin/agents/bot/split`, {
      method: 'PUT',
      headers: { authorization: 'Bearer bench-token', 'content-type': 'application/json' },
      body: JSON.stringify({ stable: 'v1', canary: 'v2', canaryWeight: CANARY_WEIGHT, leaseMs: 3_600_000 }),
    });
  }

  const targets: Target[] = [
    { name: 'direct', url: `http://127.0.0.1:${pa}/v1/chat/completions`, headers: {}, pid: upstream.pid },
    {
      name: 'node-pipe',
      url: (pipeChild.value as { url: string }).url,
      headers: {},
      pid: pipeChild.pid,
    },
    { name: 'gateway', url: `${gwUrl}/v1/agents/bot/invoke/chat/completions`, headers: {}, pid: gwChild.pid },
    {
      name: 'gw-nouse',
      url: `${offUrl}/v1/agents/bot/invoke/chat/completions`,
      headers: {},
      pid: offChild.pid,
    },
    {
      name: 'direct-sse',
      url: `http://127.0.0.1:${pa}/v1/stream/chat/completions`,
      headers: {},
      pid: upstream.pid,
    },
    {
      name: 'gateway-sse',
      url: `${gwUrl}/v1/agents/bot/invoke/stream/chat/completions`,
      headers: {},
      pid: gwChild.pid,
    },
    {
      name: 'gw-nouse-sse',
      url: `${offUrl}/v1/agents/bot/invoke/stream/chat/completions`,
      headers: {},
      pid: offChild.pid,
    },
  ];
  if (baseline)
    targets.push({
      name: 'baseline',
      url: `${(baseline.value as { url: string }).url}/v1/agents/bot/invoke/chat/completions`,
      headers: {},
      pid: baseline.pid,
    });

  // Portkey: the open-source gateway from npm, loadbalance strategy over the same two upstreams.
  let portkeyProblem: string | undefined;
  try {
    const portkeyPort = await freePort();
    const script = require.resolve('@portkey-ai/gateway/build/start-server.js', { paths: [ROOT] });
    const portkey = await spawnChild(
      process.execPath,
      [...NODE_FLAGS, script, `--port=${portkeyPort}`, '--headless'],
      (l) => (l.includes('Ready for connections') ? true : undefined),
      'portkey',
    );
    const portkeyConfig = {
      strategy: { mode: 'loadbalance' },
      targets: [
        {
          provider: 'openai',
          api_key: 'bench',
          custom_host: `http://127.0.0.1:${pa}/v1`,
          weight: (100 - CANARY_WEIGHT) / 100,
        },
        {
          provider: 'openai',
          api_key: 'bench',
          custom_host: `http://127.0.0.1:${pb}/v1`,
          weight: CANARY_WEIGHT / 100,
        },
      ],
    };
    const pk: Target = {
      name: 'portkey',
      url: `http://127.0.0.1:${portkeyPort}/v1/chat/completions`,
      headers: { 'x-portkey-config': JSON.stringify(portkeyConfig) },
      pid: portkey.pid,
    };
    await once(pk);
    targets.push(pk);
  } catch (err) {
    portkeyProblem = (err as Error).message;
  }

  process.stdout.write(
    `bench:gateway  upstream ports ${pa}/${pb}, gateway ${gwUrl}, split ${100 - CANARY_WEIGHT}/${CANARY_WEIGHT}` +
      `${portkeyProblem ? '' : ', portkey loadbalance with the same weights'}\n` +
      `latency: ${LATENCY_SAMPLES} sequential requests per target, interleaved (1 in flight; Portkey in a ` +
      `phase of its own with direct), ` +
      `throughput: autocannon ${CONNECTIONS} connections, ${LOAD_ROUNDS} x ${ROUND_SECONDS}s per target ` +
      `(interleaved, after a 1 s warm-up each)\n` +
      `node flags of the proxies: ${NODE_FLAGS.join(' ') || '(none)'}` +
      `${baselineDir ? `; baseline ${baselineDir}: ${BASELINE_FLAGS.join(' ') || '(none)'}` : ''}\n\n`,
  );

  // Portkey keeps working after it answers (about 2 ms of CPU per request, against the gateway's
  // 0.1): interleaved with the others, that leftover work lands on whichever request comes next and
  // is measured as that target's latency. So Portkey gets its own latency phase, interleaved with
  // direct only, and its added latency is taken against the direct of that phase.
  const pkTarget = targets.find((t) => t.name === 'portkey');
  const lat = await latency(targets.filter((t) => t !== pkTarget));
  const directTarget = targets.find((t) => t.name === 'direct')!;
  const pkPhase = pkTarget ? await latency([directTarget, pkTarget]) : undefined;
  const slow = (name: string, base: string) => ({ name, url: base, headers: {}, pid: 0 });
  const firstChunks = await ttfc([
    slow('direct', `http://127.0.0.1:${pa}/v1/slow-stream/chat/completions`),
    slow('gateway', `${gwUrl}/v1/agents/bot/invoke/slow-stream/chat/completions`),
    slow('gw-nouse', `${offUrl}/v1/agents/bot/invoke/slow-stream/chat/completions`),
  ]);
  const reader = await readerCost(`http://127.0.0.1:${pa}`);
  const tp = new Map<string, Load>();
  // Which upstream each routing target fed during its load runs: checks both do the same 50/50 work.
  const split = new Map<string, string>();
  const runs = new Map<string, Load[]>(targets.map((t) => [t.name, []]));
  const fed = new Map<string, { a: number; b: number }>(targets.map((t) => [t.name, { a: 0, b: 0 }]));
  for (const t of targets) await load(t, 1);
  for (let r = 0; r < LOAD_ROUNDS; r++) {
    for (let k = 0; k < targets.length; k++) {
      const t = targets[(r + k) % targets.length];
      const before = { a: (await counts(pa)).a, b: (await counts(pb)).b };
      runs.get(t.name)!.push(await load(t, ROUND_SECONDS));
      const f = fed.get(t.name)!;
      f.a += (await counts(pa)).a - before.a;
      f.b += (await counts(pb)).b - before.b;
    }
  }
  for (const t of targets) {
    tp.set(t.name, sumLoads(runs.get(t.name)!));
    const { a, b } = fed.get(t.name)!;
    split.set(t.name, `${((100 * b) / Math.max(1, a + b)).toFixed(1)}%`);
  }

  const row = (cells: (string | number)[]) =>
    cells.map((c, i) => (i === 0 ? String(c).padEnd(9) : String(c).padStart(11))).join('');
  const lines = [row(['target', 'p50_ms', 'p99_ms', 'rps', 'requests', 'non2xx+err', 'cpu_us/req', 'to_v2'])];
  for (const t of targets) {
    const l = lat.get(t.name) ?? pkPhase!.get(t.name)!;
    const r = tp.get(t.name)!;
    lines.push(
      row([
        t.name,
        l.p50.toFixed(3),
        l.p99.toFixed(3),
        Math.round(r.rps),
        r.total,
        r.non2xx + r.errors,
        r.cpuUsPerRequest === undefined ? 'n/a' : r.cpuUsPerRequest.toFixed(0),
        split.get(t.name)!,
      ]),
    );
  }
  lines.push(
    '',
    'node-pipe: a bare Node proxy (no routing, metrics or headers) to version a, for reference.',
    'gateway reads usage from every answer (the default); gw-nouse is the same gateway with usage: false;',
    '-sse: a streamed answer (13 events and a usage chunk) instead of a JSON one.',
    'cpu_us/req: CPU time of the process doing the routing (the upstream itself for direct) per request in',
    'the load run; it varies less with other load on the machine than rps and latency do (not immune: shared',
    'caches, VM steal).',
    `to_v2: share of the load run that reached the second upstream (expected ${CANARY_WEIGHT}% for gateway and portkey).`,
  );
  process.stdout.write(lines.join('\n') + '\n\n');

  const direct = lat.get('direct')!;
  const gw = lat.get('gateway')!;
  const p50Added = gw.p50 - direct.p50;
  const p99Added = gw.p99 - direct.p99;
  const directRps = tp.get('direct')!.rps;
  const gwRps = tp.get('gateway')!.rps;
  const pkRps = tp.get('portkey')?.rps;
  const pkLat = pkPhase?.get('portkey');
  const pkDirect = pkPhase?.get('direct');
  const pipeRps = tp.get('node-pipe')!.rps;
  const pipeLat = lat.get('node-pipe')!;
  const verdict = (ok: boolean) => (ok ? 'ok' : 'MISSED');
  const paired = await usagePairs(
    { on: { url: gwUrl, pid: gwChild.pid }, off: { url: offUrl, pid: offChild.pid } },
    verdict,
  );
  process.stdout.write(
    [
      `added latency (gateway - direct): p50 ${p50Added.toFixed(3)} ms [target <= 0.3: ${verdict(p50Added <= 0.3)}], ` +
        `p99 ${p99Added.toFixed(3)} ms [target <= 1: ${verdict(p99Added <= 1)}]`,
      `throughput gateway/direct: ${(gwRps / directRps).toFixed(2)} [target >= 0.5: ${verdict(gwRps / directRps >= 0.5)}]; ` +
        `gateway/node-pipe: ${(gwRps / pipeRps).toFixed(2)}, node-pipe/direct: ${(pipeRps / directRps).toFixed(2)}`,
      `node-pipe added latency: p50 ${(pipeLat.p50 - direct.p50).toFixed(3)} ms, p99 ${(pipeLat.p99 - direct.p99).toFixed(3)} ms`,
      pkRps !== undefined
        ? `throughput gateway/portkey: ${(gwRps / pkRps).toFixed(1)}x [target >= 10: ${verdict(gwRps / pkRps >= 10)}]; ` +
          `portkey added p50 ${(pkLat!.p50 - pkDirect!.p50).toFixed(3)} ms, p99 ${(pkLat!.p99 - pkDirect!.p99).toFixed(3)} ms ` +
          `(against direct in Portkey's own latency phase: p50 ${pkDirect!.p50.toFixed(3)}, p99 ${pkDirect!.p99.toFixed(3)})`
        : `portkey could not be run here: ${portkeyProblem}`,
      ...usageLines(lat, tp, firstChunks, verdict),
      ...paired.lines,
      readerLine(reader),
      `took ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    ].join('\n') + '\n',
  );
  process.stdout.write(
    `gateway p50_added_ms=${p50Added.toFixed(3)} p99_added_ms=${p99Added.toFixed(3)} rps=${Math.round(gwRps)} ` +
      `portkey_rps=${pkRps === undefined ? 'NA' : Math.round(pkRps)} direct_rps=${Math.round(directRps)} ` +
      `usage_on_p50_added_ms=${(gw.p50 - lat.get('gw-nouse')!.p50).toFixed(3)} ` +
      `${pairedFields(paired)} ` +
      `reader_us_json=${reader.json.toFixed(1)} reader_us_sse=${reader.sse.toFixed(1)} reader_us_anthropic=${reader.anthropic.toFixed(1)} ` +
      `ttfc_added_ms=${(firstChunks.get('gateway')!.p50 - firstChunks.get('direct')!.p50).toFixed(3)}\n`,
  );
  process.stdout.write(await evaluationMode(pa, pb, childArgs, json));
  process.stdout.write(await shadowMode(pa, pb, childArgs, json));
}

/** The reader's own CPU per answer of each kind, in microseconds. */
interface ReaderCost {
  json: number;
  sse: number;
  anthropic: number;
}

/**
 * The usage reader's own CPU per answer, in this process, on the bench upstream's answers, each read
 * in the two chunks the upstream writes it in: the figure that load on the machine disturbs least
 * (the proxies' rps on a busy machine swing by 2x). Best of several runs.
 */
async function readerCost(url: string): Promise<ReaderCost> {
  const body = async (path: string) =>
    Buffer.from(await (await fetch(`${url}${path}`, { method: 'POST', body: CHAT_BODY })).arrayBuffer());
  const halves = (b: Buffer) => {
    // The first two events (as the upstream's first write), then the rest.
    const cut = b.indexOf('\n\n', b.indexOf('\n\n') + 2) + 2;
    return [b.subarray(0, cut), b.subarray(cut)];
  };
  const answers = {
    json: { type: 'application/json', chunks: [await body('/v1/chat/completions')] },
    sse: { type: 'text/event-stream', chunks: halves(await body('/v1/stream/chat/completions')) },
    anthropic: { type: 'text/event-stream', chunks: halves(await body('/v1/anthropic-stream/messages')) },
  };
  const per = ({ type, chunks }: { type: string; chunks: Buffer[] }) => {
    const headers = { 'content-type': type };
    const n = 10_000;
    const t = performance.now();
    for (let i = 0; i < n; i++) {
      const r = UsageReader.forAnswer(200, headers, 0)!;
      for (const c of chunks) r.push(c);
      const u = r.finish();
      if (u?.outputTokens !== 12 && u?.outputTokens !== 5)
        throw new Error(`the bench answer (${type}) was not read`);
    }
    return ((performance.now() - t) * 1000) / n;
  };
  const best: ReaderCost = { json: Infinity, sse: Infinity, anthropic: Infinity };
  for (let round = 0; round < 5; round++) {
    for (const k of ['json', 'sse', 'anthropic'] as const) best[k] = Math.min(best[k], per(answers[k]));
  }
  return best;
}

const readerLine = (r: ReaderCost) =>
  `usage reader CPU per answer (in-process, best of 5): JSON ${r.json.toFixed(1)} us, ` +
  `OpenAI stream (14 events, 3.2 KB) ${r.sse.toFixed(1)} us, Anthropic stream (18 events) ${r.anthropic.toFixed(1)} us`;

// Usage reading on against off, paired. Each round loads the two gateways for PAIR_SECONDS each in
// the order on, off, off, on (or off, on, on, off: the first alternates), and its ratio is on's
// requests over off's: a drift of the machine's other load that is linear over the round falls
// equally on both sides. The figure is the median of the rounds' ratios, printed with their spread;
// beside it, the CPU each gateway spent per request over all rounds (steadier under other load).
// Same answers, same concurrency, same warm-up on both sides.
const PAIR_ROUNDS = QUICK ? 5 : 10;
const PAIR_SECONDS = 1;
const PAIR_WARMUP_SECONDS = QUICK ? 1 : 2;

interface Paired {
  /** Median over the rounds of requests on / requests off. */
  median: number;
  /** The rounds' ratios, sorted. */
  ratios: number[];
  /** Requests per second on and off, over all rounds. */
  rpsOn: number;
  rpsOff: number;
  /** CPU per request off / on over all rounds: the throughput ratio the CPU cost implies. */
  cpuRatio: number | undefined;
  cpuOn: number | undefined;
  cpuOff: number | undefined;
}

const quantileOf = (sorted: number[], q: number) => {
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  return sorted[lo] + (sorted[Math.ceil(i)] - sorted[lo]) * (i - lo);
};

async function pairedUsage(on: Target, off: Target): Promise<Paired> {
  await load(on, PAIR_WARMUP_SECONDS);
  await load(off, PAIR_WARMUP_SECONDS);
  const ratios: number[] = [];
  const onRuns: Load[] = [];
  const offRuns: Load[] = [];
  for (let r = 0; r < PAIR_ROUNDS; r++) {
    const order = r % 2 === 0 ? [on, off, off, on] : [off, on, on, off];
    let onTotal = 0;
    let offTotal = 0;
    for (const t of order) {
      const run = await load(t, PAIR_SECONDS);
      if (run.non2xx + run.errors > 0)
        throw new Error(`${t.name}: ${run.non2xx + run.errors} failed requests`);
      if (t === on) {
        onRuns.push(run);
        onTotal += run.total;
      } else {
        offRuns.push(run);
        offTotal += run.total;
      }
    }
    ratios.push(onTotal / offTotal);
  }
  ratios.sort((p, q) => p - q);
  const sumOn = sumLoads(onRuns);
  const sumOff = sumLoads(offRuns);
  const cpuOn = sumOn.cpuUsPerRequest;
  const cpuOff = sumOff.cpuUsPerRequest;
  return {
    median: quantileOf(ratios, 0.5),
    ratios,
    rpsOn: sumOn.rps,
    rpsOff: sumOff.rps,
    cpuRatio: cpuOn !== undefined && cpuOff !== undefined ? cpuOff / cpuOn : undefined,
    cpuOn,
    cpuOff,
  };
}

/** The two gateways (reading on and off) the paired figures compare. */
interface Gateways {
  on: { url: string; pid: number };
  off: { url: string; pid: number };
}

type PairedKind = 'json' | 'sse' | 'anthropic';
const PAIRED_PATHS: Record<PairedKind, [label: string, path: string]> = {
  json: ['JSON', 'chat/completions'],
  sse: ['OpenAI stream', 'stream/chat/completions'],
  anthropic: ['Anthropic stream', 'anthropic-stream/messages'],
};

// BENCH_USAGE_KINDS=sse (or json, anthropic, comma-separated): only those pairs, to look at one.
const PAIRED_KINDS = (process.env.BENCH_USAGE_KINDS ?? 'json,sse,anthropic')
  .split(',')
  .filter((k): k is PairedKind => k in PAIRED_PATHS);
const NO_PAIR: Paired = {
  median: NaN,
  ratios: [NaN],
  rpsOn: NaN,
  rpsOff: NaN,
  cpuRatio: undefined,
  cpuOn: undefined,
  cpuOff: undefined,
};

/** The paired figures for JSON answers and both streams, and their lines. */
async function usagePairs(
  gws: Gateways,
  verdict: (ok: boolean) => string,
): Promise<Record<PairedKind, Paired> & { lines: string[]; ok: boolean }> {
  const out: Record<PairedKind, Paired> = { json: NO_PAIR, sse: NO_PAIR, anthropic: NO_PAIR };
  for (const kind of PAIRED_KINDS) {
    const path = PAIRED_PATHS[kind][1];
    const target = (side: 'on' | 'off') => ({
      name: `${side}-${kind}`,
      url: `${gws[side].url}/v1/agents/bot/invoke/${path}`,
      headers: {},
      pid: gws[side].pid,
    });
    out[kind] = await pairedUsage(target('on'), target('off'));
  }
  const side = (kind: PairedKind) => {
    const p = out[kind];
    const r = p.ratios;
    return (
      `  ${PAIRED_PATHS[kind][0].padEnd(16)} median ${p.median.toFixed(3)} [${verdict(p.median >= 0.9)}], ` +
      `middle half ${quantileOf(r, 0.25).toFixed(2)}-${quantileOf(r, 0.75).toFixed(2)}, ` +
      `all ${r[0].toFixed(2)}-${r[r.length - 1].toFixed(2)}; ${Math.round(p.rpsOn)} vs ${Math.round(p.rpsOff)} req/s; ` +
      `CPU per request ${p.cpuOn?.toFixed(0) ?? 'n/a'} vs ${p.cpuOff?.toFixed(0) ?? 'n/a'} us = ${p.cpuRatio?.toFixed(2) ?? 'n/a'}`
    );
  };
  const ok = PAIRED_KINDS.every((k) => out[k].median >= 0.9);
  return {
    ...out,
    ok,
    lines: [
      `usage reading, throughput on/off paired (${PAIR_ROUNDS} rounds of on,off,off,on or off,on,on,off, ` +
        `${PAIR_SECONDS} s each, after ${PAIR_WARMUP_SECONDS} s of warm-up each; ratio of the rounds) ` +
        `[target >= 0.9: ${verdict(ok)}]:`,
      ...PAIRED_KINDS.map(side),
    ],
  };
}

/** key=value fields of the paired figures for a summary line. */
const pairedFields = (p: Record<PairedKind, Paired>) =>
  `usage_on_off_rps=${p.json.median.toFixed(3)} usage_on_off_rps_sse=${p.sse.median.toFixed(3)} ` +
  `usage_on_off_rps_anthropic=${p.anthropic.median.toFixed(3)} ` +
  `usage_on_off_rps_sse_range=${p.sse.ratios[0].toFixed(2)}-${p.sse.ratios[p.sse.ratios.length - 1].toFixed(2)} ` +
  `usage_on_off_cpu=${p.json.cpuRatio?.toFixed(2) ?? 'NA'} usage_on_off_cpu_sse=${p.sse.cpuRatio?.toFixed(2) ?? 'NA'} ` +
  `usage_on_off_cpu_anthropic=${p.anthropic.cpuRatio?.toFixed(2) ?? 'NA'}`;

/** Reading usage on against off, JSON and streamed, and the time to the first chunk of a stream. */
function usageLines(
  lat: Map<string, { p50: number; p99: number }>,
  tp: Map<string, Load>,
  first: Map<string, { p50: number; p99: number }>,
  verdict: (ok: boolean) => string,
): string[] {
  const d = lat.get('direct')!.p50;
  const ds = lat.get('direct-sse')!.p50;
  const on = lat.get('gateway')!.p50 - d;
  const off = lat.get('gw-nouse')!.p50 - d;
  const onS = lat.get('gateway-sse')!.p50 - ds;
  const offS = lat.get('gw-nouse-sse')!.p50 - ds;
  const rj = tp.get('gateway')!.rps / tp.get('gw-nouse')!.rps;
  const rs = tp.get('gateway-sse')!.rps / tp.get('gw-nouse-sse')!.rps;
  const f = (n: string) => first.get(n)!;
  const ttfcAdded = f('gateway').p50 - f('direct').p50;
  return [
    `usage reading: p50 added latency JSON ${on.toFixed(3)} ms on, ${off.toFixed(3)} ms off [target on <= 0.3: ${verdict(on <= 0.3)}]; ` +
      `streamed ${onS.toFixed(3)} ms on, ${offS.toFixed(3)} ms off`,
    `usage reading: throughput on/off in the table's rounds (not paired, drift included) JSON ${rj.toFixed(2)} ` +
      `(${Math.round(tp.get('gateway')!.rps)} vs ${Math.round(tp.get('gw-nouse')!.rps)} req/s), ` +
      `streamed ${rs.toFixed(2)} (${Math.round(tp.get('gateway-sse')!.rps)} vs ${Math.round(tp.get('gw-nouse-sse')!.rps)})`,
    `time to first chunk of a stream (p50/p99 ms): direct ${f('direct').p50.toFixed(3)}/${f('direct').p99.toFixed(3)}, ` +
      `gateway ${f('gateway').p50.toFixed(3)}/${f('gateway').p99.toFixed(3)}, usage off ${f('gw-nouse').p50.toFixed(3)}/${f('gw-nouse').p99.toFixed(3)}; ` +
      `added ${ttfcAdded.toFixed(3)} ms [target <= 2: ${verdict(ttfcAdded <= 2)}]`,
  ];
}

/**
 * The online evaluator's cost on the user's path: two gateways over the same upstreams, one with
 * `evaluate` at sample 1 (every answer graded by the local evaluator in its own process, the worst
 * case), one without, their latency measured interleaved. Returns the summary line.
 */
async function evaluationMode(
  pa: number,
  pb: number,
  childArgs: string[],
  json: (l: string) => unknown,
): Promise<string> {
  const evaluator = await spawnChild(
    process.execPath,
    [
      '-r',
      './bin/register.js',
      '-e',
      "require('./src/demo/evaluator').startLocalEvaluator().then((e) => console.log(JSON.stringify({ url: e.url })))",
    ],
    json,
    'local evaluator',
  );
  const versions = { v1: `http://127.0.0.1:${pa}/v1`, v2: `http://127.0.0.1:${pb}/v1` };
  const evaluate = (sample: number) => ({
    url: (evaluator.value as { url: string }).url,
    model: 'local',
    rubric: 'expect: hello',
    sample,
    maxPerMinute: 100_000,
    maxTokensPerDay: 1e12,
  });
  const start = async (agent: Record<string, unknown>, what: string) => {
    const child = await spawnChild(
      process.execPath,
      [...NODE_FLAGS, ...childArgs, 'gateway', JSON.stringify({ agents: { bot: agent } })],
      json,
      what,
    );
    const url = (child.value as { url: string }).url;
    await fetch(`${url}/v1/admin/agents/bot/split`, {
      method: 'PUT',
      headers: { authorization: 'Bearer bench-token', 'content-type': 'application/json' },
      body: JSON.stringify({ stable: 'v1', canary: 'v2', canaryWeight: CANARY_WEIGHT, leaseMs: 3_600_000 }),
    });
    return {
      name: what,
      url: `${url}/v1/agents/bot/invoke/chat/completions`,
      headers: {},
      pid: child.pid,
      base: url,
    };
  };
  const off = await start({ stable: 'v1', versions }, 'evaluate-off');
  const on5 = await start({ stable: 'v1', versions, evaluate: evaluate(0.05) }, 'evaluate-5%');
  const on100 = await start({ stable: 'v1', versions, evaluate: evaluate(1) }, 'evaluate-100%');
  const lat = await latency([off, on5, on100]);
  const graded = async (t: { base: string }) => {
    const answer = (await (
      await fetch(`${t.base}/v1/admin/agents/bot/metrics?since=0`, {
        headers: { authorization: 'Bearer bench-token' },
      })
    ).json()) as { evaluator: { counts: { recorded: number } } };
    return answer.evaluator.counts.recorded;
  };
  const a = lat.get('evaluate-off')!;
  const side = async (t: { name: string; base: string }) => {
    const b = lat.get(t.name)!;
    return (
      `${t.name}: p50 ${b.p50.toFixed(3)} (${(b.p50 - a.p50).toFixed(3)}), p99 ${b.p99.toFixed(3)} ` +
      `(${(b.p99 - a.p99).toFixed(3)}), ${await graded(t)} graded`
    );
  };
  return (
    `evaluation (local evaluator in its own process; ms, difference to off; graded includes warm-up): ` +
    `off: p50 ${a.p50.toFixed(3)}, p99 ${a.p99.toFixed(3)}; ${await side(on5)}; ${await side(on100)}\n`
  );
}

/**
 * A shadow stage's cost on the user's path (docs/shadow.md): two gateways over the same upstreams,
 * one mirroring every request to the canary (shadow 100%, each pair judged by the local evaluator in
 * its own process, in both orders: the worst case), one with the same split and no mirroring; the
 * users' latency measured interleaved. Returns the summary line.
 */
async function shadowMode(
  pa: number,
  pb: number,
  childArgs: string[],
  json: (l: string) => unknown,
): Promise<string> {
  const evaluator = await spawnChild(
    process.execPath,
    [
      '-r',
      './bin/register.js',
      '-e',
      "require('./src/demo/evaluator').startLocalEvaluator({ pairs: 'hash' }).then((e) => console.log(JSON.stringify({ url: e.url })))",
    ],
    json,
    'local evaluator (pairs)',
  );
  const agent = {
    stable: 'v1',
    versions: { v1: `http://127.0.0.1:${pa}/v1`, v2: `http://127.0.0.1:${pb}/v1` },
    shadow: 'allowed',
    evaluate: {
      url: (evaluator.value as { url: string }).url,
      model: 'local',
      rubric: 'expect: hello',
      // Sampled grading off in effect: only the pairs are judged.
      sample: 1e-9,
      maxPerMinute: 100_000,
      maxTokensPerDay: 1e12,
    },
  };
  const start = async (shadow: number | undefined, what: string) => {
    const child = await spawnChild(
      process.execPath,
      [...NODE_FLAGS, ...childArgs, 'gateway', JSON.stringify({ agents: { bot: agent } })],
      json,
      what,
    );
    const url = (child.value as { url: string }).url;
    const res = await fetch(`${url}/v1/admin/agents/bot/split`, {
      method: 'PUT',
      headers: { authorization: 'Bearer bench-token', 'content-type': 'application/json' },
      body: JSON.stringify({
        stable: 'v1',
        canary: 'v2',
        canaryWeight: 0,
        leaseMs: 3_600_000,
        ...(shadow !== undefined ? { shadow } : {}),
      }),
    });
    if (!res.ok) throw new Error(`${what}: split refused: ${await res.text()}`);
    return {
      name: what,
      url: `${url}/v1/agents/bot/invoke/chat/completions`,
      headers: {},
      pid: child.pid,
      base: url,
    };
  };
  const off = await start(undefined, 'shadow-off');
  const on20 = await start(20, 'shadow-20%');
  const on100 = await start(100, 'shadow-100%');
  const lat = await latency([off, on20, on100]);
  const a = lat.get('shadow-off')!;
  const side = async (t: { name: string; base: string }) => {
    const answer = (await (
      await fetch(`${t.base}/v1/admin/agents/bot/metrics?since=0&canary=v2`, {
        headers: { authorization: 'Bearer bench-token' },
      })
    ).json()) as {
      shadow: { pairs: { wins: number; ties: number; losses: number; mirrored: number; skipped: number } };
    };
    const p = answer.shadow.pairs;
    const b = lat.get(t.name)!;
    const d = b.p50 - a.p50;
    return (
      `${t.name}: p50 ${b.p50.toFixed(3)} (${d.toFixed(3)}) [target within 1 ms: ${Math.abs(d) <= 1 ? 'ok' : 'MISSED'}], ` +
      `p99 ${b.p99.toFixed(3)} (${(b.p99 - a.p99).toFixed(3)}), ${p.mirrored} mirrored, ${p.skipped} skipped, ` +
      `${p.wins + p.ties + p.losses} pairs judged`
    );
  };
  return (
    `shadow (users all on stable; copies to the canary, each pair judged twice by the local evaluator in its own ` +
    `process; ms, difference to off; counts include warm-up): off: p50 ${a.p50.toFixed(3)}, p99 ${a.p99.toFixed(3)}; ` +
    `${await side(on20)}; ${await side(on100)}\n`
  );
}

/** BENCH_MODE=shadow: only the shadow mode (its own upstream). */
async function shadowOnly() {
  const childArgs = ['-r', './bin/register.js', 'bench/gateway-child.ts'];
  const json = (l: string) => (l.startsWith('{') ? JSON.parse(l) : undefined);
  const upstream = await spawnChild(process.execPath, [...childArgs, 'upstream'], json, 'upstream');
  const [pa, pb] = (upstream.value as { ports: [number, number] }).ports;
  process.stdout.write(await shadowMode(pa, pb, childArgs, json));
}

/** BENCH_MODE=evaluation: only the evaluation mode (its own upstream). */
async function evaluationOnly() {
  const childArgs = ['-r', './bin/register.js', 'bench/gateway-child.ts'];
  const json = (l: string) => (l.startsWith('{') ? JSON.parse(l) : undefined);
  const upstream = await spawnChild(process.execPath, [...childArgs, 'upstream'], json, 'upstream');
  const [pa, pb] = (upstream.value as { ports: [number, number] }).ports;
  process.stdout.write(await evaluationMode(pa, pb, childArgs, json));
}

/** BENCH_MODE=usage: only usage reading on against off, paired, and the reader's own cost. */
async function usageOnly() {
  const childArgs = ['-r', './bin/register.js', 'bench/gateway-child.ts'];
  const json = (l: string) => (l.startsWith('{') ? JSON.parse(l) : undefined);
  const upstream = await spawnChild(process.execPath, [...childArgs, 'upstream'], json, 'upstream');
  const [pa, pb] = (upstream.value as { ports: [number, number] }).ports;
  const config = {
    agents: {
      bot: { stable: 'v1', versions: { v1: `http://127.0.0.1:${pa}/v1`, v2: `http://127.0.0.1:${pb}/v1` } },
    },
  };
  const gws: Partial<Gateways> = {};
  // BENCH_AA=1: usage off on both sides, to see how far apart two identical gateways measure here.
  const aa = process.env.BENCH_AA === '1';
  for (const [side, name, usage] of [
    ['on', 'gateway', !aa],
    ['off', 'gw-nouse', false],
  ] as const) {
    const child = await spawnChild(
      process.execPath,
      [...NODE_FLAGS, ...childArgs, 'gateway', JSON.stringify({ ...config, usage })],
      json,
      name,
    );
    const url = (child.value as { url: string }).url;
    const put = await fetch(`${url}/v1/admin/agents/bot/split`, {
      method: 'PUT',
      headers: { authorization: 'Bearer bench-token', 'content-type': 'application/json' },
      body: JSON.stringify({ stable: 'v1', canary: 'v2', canaryWeight: CANARY_WEIGHT, leaseMs: 3_600_000 }),
    });
    if (!put.ok) throw new Error(`could not set the ${name} split: ${await put.text()}`);
    gws[side] = { url, pid: child.pid };
  }
  const verdict = (ok: boolean) => (ok ? 'ok' : 'MISSED');
  const t0 = Date.now();
  const paired = await usagePairs(gws as Gateways, verdict);
  const reader = await readerCost(`http://127.0.0.1:${pa}`);
  process.stdout.write(
    [
      `node ${process.version}, load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} at the end${aa ? ', A/A: reading off on both sides' : ''}`,
      ...paired.lines,
      readerLine(reader),
      `took ${((Date.now() - t0) / 1000).toFixed(0)} s`,
      `usage ${pairedFields(paired)} ` +
        `reader_us_json=${reader.json.toFixed(1)} reader_us_sse=${reader.sse.toFixed(1)} reader_us_anthropic=${reader.anthropic.toFixed(1)}`,
    ].join('\n') + '\n',
  );
}

const modes: Record<string, () => Promise<void>> = {
  evaluation: evaluationOnly,
  usage: usageOnly,
  shadow: shadowOnly,
};
(modes[process.env.BENCH_MODE ?? ''] ?? main)().then(
  () => {
    cleanup();
    process.exit(0);
  },
  (err) => {
    process.stderr.write(`bench failed: ${(err as Error).message}\n`);
    cleanup();
    process.exit(1);
  },
);
