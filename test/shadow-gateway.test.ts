// The shadow stage on a real gateway: real upstreams, the local evaluator (OpenAI protocol, through
// the official SDK) judging pairs. No Temporal: the split is written as the workflow writes it.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RunningGateway } from '../src/gateway';
import { startLocalEvaluator, type LocalEvaluator } from '../src/demo/evaluator';
import { eventually } from './harness';
import { GatewayRouter } from '../src/router/gateway';
import { GatewayMetricsSource } from '../src/metrics/gateway';
import { judge } from '../src/analysis';
import { judgeShadowStage } from '../src/analysis/shadow';
import { resolvePlan } from '../src/plan';
import { resolveGatewayConfig } from '../src/gateway/config';
import { TOKEN, gateway, putSplit, startUpstream, type Upstream } from './gateway-support';

const RUBRIC = 'expect: the answer is 42\nexpect: source: manual';

interface Seen {
  shadow: string | undefined;
  session: string | undefined;
  body: string;
}

/** A chat agent that answers well or badly (by request body, when a function) and remembers what reached it. */
function agent(good: boolean | ((body: string) => boolean), seen: Seen[], hold?: Promise<void>) {
  let n = 0;
  return (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({
        shadow: req.headers['x-agent-canary-shadow'] as string | undefined,
        session: req.headers['x-session-id'] as string | undefined,
        body,
      });
      const well = typeof good === 'function' ? good(body) : good;
      const text = `${well ? 'The answer is 42 (source: manual).' : 'The answer is 42, I think.'} #${n++}`;
      const answer = () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            choices: [{ message: { role: 'assistant', content: text } }],
            usage: { prompt_tokens: 10, completion_tokens: 20 },
          }),
        );
      };
      if (hold) void hold.then(answer);
      else answer();
    });
  };
}

async function shadowMetrics(gw: RunningGateway) {
  const res = await fetch(`${gw.url}/v1/admin/agents/bot/metrics?since=0&canary=v2`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  return (await res.json()) as {
    versions: Record<string, { requests: number }>;
    shadow?: {
      versions: Record<
        string,
        { requests: number; errors: number; signals?: { outputTokens: { sum: number } } }
      >;
      pairs: { wins: number; ties: number; losses: number; mirrored: number; skipped: number };
      lossReasons?: string[];
    };
  };
}

async function ask(gw: RunningGateway, i: number, session?: string, content = `question ${i}`) {
  const res = await fetch(`${gw.url}/v1/agents/bot/invoke/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(session ? { 'x-session-id': session } : {}) },
    body: JSON.stringify({ messages: [{ role: 'user', content }] }),
  });
  const body = await res.text();
  return { status: res.status, version: res.headers.get('x-agent-version'), body };
}

describe('shadow stage on the gateway', function () {
  this.timeout(30_000);
  let evaluator: LocalEvaluator;
  let v1: Upstream;
  let v2: Upstream;
  let gw: RunningGateway | undefined;
  const stableSeen: Seen[] = [];
  const canarySeen: Seen[] = [];

  async function start(opts: {
    canaryGood: boolean | ((body: string) => boolean);
    hold?: Promise<void>;
    allowed?: boolean;
    evaluate?: Record<string, unknown>;
    quote?: boolean;
    gateway?: { log: (line: string) => void; dataDir: string };
  }) {
    stableSeen.length = 0;
    canarySeen.length = 0;
    evaluator = await startLocalEvaluator({ quote: opts.quote });
    v1 = await startUpstream('v1', agent(true, stableSeen));
    v2 = await startUpstream('v2', agent(opts.canaryGood, canarySeen, opts.hold));
    gw = await gateway({
      ...opts.gateway,
      config: {
        agents: {
          bot: {
            stable: 'v1',
            versions: { v1: v1.url, v2: v2.url },
            ...(opts.allowed === false ? {} : { shadow: 'allowed' }),
            // Sampled grading practically off: this suite is about pairs.
            evaluate: { url: evaluator.url, model: 'judge', rubric: RUBRIC, sample: 1e-9, ...opts.evaluate },
          },
        },
      },
    });
  }

  afterEach(async () => {
    await gw?.close();
    gw = undefined;
    await Promise.all([v1?.close(), v2?.close(), evaluator?.close()]);
  });

  it('serves every user from the stable and judges the mirrored copies blind, in both orders', async () => {
    await start({ canaryGood: false });
    const split = await putSplit(gw!, 'bot', {
      stable: 'v1',
      canary: 'v2',
      canaryWeight: 0,
      leaseMs: 60_000,
      shadow: 100,
    });
    assert.equal(split.status, 200, JSON.stringify(split.body));
    assert.deepEqual(await new GatewayRouter({ url: gw!.url, token: TOKEN }).preflightShadow('bot'), []);
    assert.equal(split.body.shadow, 100);
    for (let i = 0; i < 20; i++) {
      const r = await ask(gw!, i);
      assert.equal(r.status, 200);
      assert.equal(r.version, 'v1');
      assert.match(r.body, /source: manual/);
    }
    const m = await eventually(
      () => shadowMetrics(gw!),
      (m) => (m.shadow?.pairs.losses ?? 0) + (m.shadow?.pairs.ties ?? 0) + (m.shadow?.pairs.wins ?? 0) === 20,
      { what: 'every pair judged' },
    );
    // The canary answered worse every time, in both orders: 20 losses.
    assert.deepEqual(m.shadow!.pairs, { wins: 0, ties: 0, losses: 20, mirrored: 20, skipped: 0 });
    // Copies are counted apart: the canary served nobody.
    assert.equal(m.versions.v2.requests, 0);
    assert.equal(m.versions.v1.requests, 20);
    assert.equal(m.shadow!.versions.v2.requests, 20);
    assert.equal(m.shadow!.versions.v2.errors, 0);
    assert.equal(m.shadow!.versions.v2.signals?.outputTokens.sum, 400);
    // Every copy was marked, carried the user's request, and came after the stable's.
    assert.equal(canarySeen.length, 20);
    assert.ok(canarySeen.every((s) => s.shadow === '1'));
    assert.deepEqual(
      canarySeen.map((s) => s.body),
      stableSeen.map((s) => s.body),
    );
    assert.ok(stableSeen.every((s) => s.shadow === undefined));
    // Two evaluator calls per pair (A/B and B/A).
    assert.equal(evaluator.calls(), 40);
    // evaluate.keepLossReasons is off by default: no reason is kept or shown.
    assert.equal(m.shadow!.lossReasons, undefined);
    const prom = await (await fetch(`${gw!.url}/metrics`)).text();
    assert.match(prom, /agent_canary_shadow_requests_total\{agent="bot",version="v2"\} 20/);
    assert.match(prom, /agent_canary_shadow_pairs_total\{agent="bot",version="v2",outcome="loss"\} 20/);
  });

  it('never holds a user for the canary, and mirrors a conversation whole', async () => {
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    await start({ canaryGood: true, hold });
    await putSplit(gw!, 'bot', { stable: 'v1', canary: 'v2', canaryWeight: 0, leaseMs: 60_000, shadow: 25 });
    // The canary answers nothing until released: every user is answered all the same.
    for (let s = 0; s < 40; s++) {
      for (let turn = 0; turn < 3; turn++) {
        const r = await ask(gw!, turn, `conv-${s}`);
        assert.equal(r.version, 'v1');
      }
    }
    // Every copy is sent once its stable answer ended (which the gateway may see a moment after the
    // client has read the whole body): wait until the count holds still and all reached the canary.
    let before = -1;
    const mirrored = (
      await eventually(
        async () => ({ sent: (await shadowMetrics(gw!)).shadow!.pairs.mirrored, seen: canarySeen.length }),
        (n) => {
          const still = n.sent === before;
          before = n.sent;
          return still && n.sent === n.seen && n.sent > 0;
        },
        { what: 'every copy at the canary' },
      )
    ).sent;
    assert.ok(mirrored > 0);
    release();
    assert.equal((await shadowMetrics(gw!)).shadow!.pairs.skipped, 0);
    const bySession = new Map<string, number>();
    for (const s of canarySeen) bySession.set(s.session!, (bySession.get(s.session!) ?? 0) + 1);
    // Sticky: a conversation's turns are mirrored together or not at all.
    assert.ok(
      [...bySession.values()].every((n) => n === 3),
      JSON.stringify([...bySession]),
    );
    // 40 conversations at 25%: none, or more than 21 (63 copies held, near the gateway's bound of 64
    // in flight), each has a chance of about one in 100,000.
    assert.ok(
      bySession.size >= 1 && bySession.size <= 21,
      `${bySession.size} of 40 conversations mirrored at 25%`,
    );
  });

  it("at the evaluator's day cap stops mirroring, and preference waits (no data, never a pass)", async () => {
    // One pair's calls spend more than the day's budget: from then on nothing is sent or judged.
    await start({ canaryGood: true, evaluate: { maxTokensPerDay: 1 } });
    await putSplit(gw!, 'bot', { stable: 'v1', canary: 'v2', canaryWeight: 0, leaseMs: 60_000, shadow: 100 });
    await ask(gw!, 0);
    await eventually(
      () => shadowMetrics(gw!),
      (m) =>
        m.shadow!.pairs.ties + m.shadow!.pairs.skipped + m.shadow!.pairs.wins + m.shadow!.pairs.losses >= 1,
      { what: 'the first pair over the budget' },
    );
    for (let i = 1; i < 10; i++) assert.equal((await ask(gw!, i)).version, 'v1');
    const m = await eventually(
      () => shadowMetrics(gw!),
      (m) => m.shadow!.pairs.mirrored + m.shadow!.pairs.skipped >= 10,
      { what: 'every request mirrored or skipped' },
    );
    assert.ok(m.shadow!.pairs.skipped >= 9, JSON.stringify(m.shadow!.pairs));
    assert.equal(canarySeen.length, m.shadow!.pairs.mirrored);
    const now = Date.now();
    const window = await new GatewayMetricsSource({ url: gw!.url, token: TOKEN }).fetch({
      agent: 'bot',
      stable: 'v1',
      canary: 'v2',
      since: now - 60_000,
      until: now + 1,
    });
    const plan = resolvePlan({
      agent: 'bot',
      stable: 'v1',
      canary: 'v2',
      stages: [{ shadow: 100, observe: '1m' }, { weight: 100 }],
      analysis: { metrics: ['error_rate'], minSamples: 1 },
    });
    const v = judgeShadowStage(window, plan.analysis, 100, judge);
    const pref = v.metrics.find((x) => x.metric === 'preference')!;
    assert.equal(pref.status, 'nodata');
    assert.match(pref.reason, /no data: evaluator over its budget of 1 tokens per day/);
    assert.notEqual(v.verdict, 'pass');
  });

  it('keepLossReasons: keeps the latest n reasons of lost pairs only, one line each, bounded, in memory only', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'shadow-reasons-'));
    const logs: string[] = [];
    try {
      // Even questions the canary answers worse (losses); odd ones as well as the stable (ties).
      await start({
        canaryGood: (body) => /question \d*[13579]\b/.test(body),
        quote: true,
        evaluate: { keepLossReasons: 3 },
        gateway: { log: (l) => logs.push(l), dataDir },
      });
      await putSplit(gw!, 'bot', {
        stable: 'v1',
        canary: 'v2',
        canaryWeight: 0,
        leaseMs: 60_000,
        shadow: 100,
      });
      // Long questions with a line break and an ANSI escape, as a hostile or careless user sends.
      const question = (i: number) => `question ${i}\n\u001b[31mred ${'x'.repeat(400)}`;
      for (let i = 0; i < 10; i++) assert.equal((await ask(gw!, i, undefined, question(i))).version, 'v1');
      const m = await eventually(
        () => shadowMetrics(gw!),
        (m) => m.shadow!.pairs.wins + m.shadow!.pairs.ties + m.shadow!.pairs.losses === 10,
        { what: 'every pair judged' },
      );
      assert.deepEqual(m.shadow!.pairs, { wins: 0, ties: 5, losses: 5, mirrored: 10, skipped: 0 });
      const reasons = m.shadow!.lossReasons!;
      assert.equal(reasons.length, 3, JSON.stringify(reasons));
      for (const r of reasons) {
        // The evaluator quoted the user; only losses (even questions) are kept, cut to 300 characters.
        assert.match(
          r,
          /^more expected points present for the request "user: question \d*[02468] {2}\[31mred x+…$/,
        );
        assert.equal(r.length, 301);
        assert.ok(![...r].some((c) => c.charCodeAt(0) < 0x20), JSON.stringify(r));
      }
      // Only the window's losses: a window after them has none (an earlier rollout is not this one).
      const now = Date.now();
      const later = await fetch(
        `${gw!.url}/v1/admin/agents/bot/metrics?since=${now + 60_000}&until=${now + 120_000}&canary=v2`,
        { headers: { authorization: `Bearer ${TOKEN}` } },
      );
      assert.deepEqual(
        ((await later.json()) as { shadow: { lossReasons: string[] } }).shadow.lossReasons,
        [],
      );
      // The check's verdict carries them as the gateway reported them.
      const window = await new GatewayMetricsSource({ url: gw!.url, token: TOKEN }).fetch({
        agent: 'bot',
        stable: 'v1',
        canary: 'v2',
        since: now - 60_000,
        until: now + 1,
      });
      const plan = resolvePlan({
        agent: 'bot',
        stable: 'v1',
        canary: 'v2',
        stages: [{ shadow: 100, observe: '1m' }, { weight: 100 }],
        analysis: { metrics: ['error_rate'], minSamples: 1 },
      });
      assert.deepEqual(judgeShadowStage(window, plan.analysis, 100, judge).shadow?.lossReasons, reasons);
      // Never in /metrics, the log or the journal.
      assert.doesNotMatch(await (await fetch(`${gw!.url}/metrics`)).text(), /question|xxxx/);
      await gw!.close();
      gw = undefined;
      assert.ok(!logs.some((l) => /question|xxxx/.test(l)), logs.join('\n'));
      const files = readdirSync(dataDir, { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
      assert.ok(files.length > 0, 'the journal was written');
      for (const f of files) {
        assert.doesNotMatch(readFileSync(join(f.parentPath, f.name), 'utf8'), /question|xxxx/);
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('keepLossReasons: bounded and named when wrong', () => {
    const evaluate = (keepLossReasons: unknown) => () =>
      resolveGatewayConfig({
        agents: {
          bot: {
            stable: 'v1',
            versions: { v1: 'http://127.0.0.1:9' },
            evaluate: { url: 'http://127.0.0.1:9/v1', model: 'm', rubric: 'r', sample: 0.1, keepLossReasons },
          },
        },
      });
    assert.equal(evaluate(undefined)().agents.get('bot')!.evaluate!.keepLossReasons, 0);
    assert.throws(evaluate(6), /agents\.bot\.evaluate\.keepLossReasons: must be at most 5/);
    assert.throws(evaluate(1.5), /evaluate\.keepLossReasons: must be a whole number/);
    assert.throws(evaluate(-1), /evaluate\.keepLossReasons: must be 0 \(off\) or more/);
  });

  it('refuses a shadow split for an agent whose config does not allow it, naming the setting', async () => {
    await start({ canaryGood: true, allowed: false });
    const r = await putSplit(gw!, 'bot', {
      stable: 'v1',
      canary: 'v2',
      canaryWeight: 0,
      leaseMs: 60_000,
      shadow: 20,
    });
    assert.equal(r.status, 400);
    assert.match(String(r.body.error), /shadow: agents\.bot\.shadow is not "allowed" in the gateway config/);
    // And preflight says so before a rollout starts (the worker's router asks the gateway).
    const problems = await new GatewayRouter({ url: gw!.url, token: TOKEN }).preflightShadow('bot');
    assert.equal(problems.length, 1);
    assert.match(problems[0], /does not allow mirroring bot: set agents\.bot\.shadow: allowed in its config/);
    await ask(gw!, 1);
    assert.equal(canarySeen.length, 0);
    // A client cannot mark its own request as a shadow copy (an agent honouring it would skip work).
    await fetch(`${gw!.url}/v1/agents/bot/invoke/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-agent-canary-shadow': '1' },
      body: '{"messages":[]}',
    }).then((r) => r.text());
    assert.equal(stableSeen.at(-1)!.shadow, undefined);
  });
});
