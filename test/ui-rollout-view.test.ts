// The dashboard's answers to "where is this rollout going, and why is it waiting?" in a real browser
// (Debian's Chromium driven by playwright-core) against real rollouts: the headline names the metric
// that holds the stage, the stage bar shows "stage 1 of 3" with the stages to come and the expected
// promotion, a pause is labelled, the list says why each rollout ended and tells a rollback, an abort
// and a start that failed apart, and a stale token's refusal says where the right one is. The chart
// rules (no made-up axis, readable p99 ticks, markers that do not overlap) are checked on the page's
// own chart module. Screenshots are kept in .agent-canary/screenshots.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { resolvePlan, type ResolvedPlan } from '../src/plan';
import { getStatus, sendCommand } from '../src/temporal/rollouts';
import { workflowIdFor } from '../workflows/messages';
import { eventually, testEnv, uniqueName } from './harness';
import { longPlan, quickPlan, startUiStack, type UiStack } from './ui-support';
import { launchChromium, type Chromium } from './support/chromium';
import { requirePrerequisites } from './support/prerequisites';

const SCREENSHOTS = path.join(__dirname, '..', '.agent-canary', 'screenshots');

/** Three stages that stay in the first for long; quality judged finely enough that it stays "not yet". */
function threeStages(agent: string): ResolvedPlan {
  const quick = quickPlan(agent);
  return resolvePlan({
    agent,
    stable: 'v1',
    canary: 'v2',
    stages: [{ weight: 20, observe: '10m' }, { weight: 50, observe: '10m' }, { weight: 100 }],
    analysis: {
      interval: '1s',
      minSamples: 30,
      inconclusiveLimit: 1000,
      minEffect: { ...quick.analysis.minEffect, quality_score: 0.0005 },
    },
    progressDeadline: '1h',
  });
}

describe('agent-canary ui: where a rollout is going (Chromium)', function () {
  this.timeout(180_000);
  let stack: UiStack;
  let browser: BrowserContext;
  let page: Page;
  let chrome: Chromium | undefined;
  const ids: Record<string, string> = {};
  const pageErrors: string[] = [];
  const nowhere = uniqueName('nowhere');

  before(async function () {
    this.timeout(120_000);
    requirePrerequisites(this, 'chromium');
    mkdirSync(SCREENSHOTS, { recursive: true });
    stack = await startUiStack({
      bad: { name: 'view-bad', regressed: true },
      held: { name: 'view-held' },
      stop: { name: 'view-stop' },
    });
    for (const key of Object.keys(stack.agents)) ids[key] = workflowIdFor(stack.agents[key]);
    ids.nowhere = workflowIdFor(nowhere);
    await Promise.all([
      stack.start('bad'),
      stack.start('held', threeStages),
      stack.start('stop', longPlan),
      // An agent the gateway does not know, started without preflight: its first split is refused.
      stack.start('held', () => longPlan(nowhere)),
    ]);
    chrome = await launchChromium();
    browser = chrome.context;
    page = await browser.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (m) => {
      // The stale-token press below is answered 401 on purpose; Chromium logs every 401 as an error.
      if (m.type() === 'error' && !/status of 401/.test(m.text())) pageErrors.push(m.text());
    });
  });

  after(async () => {
    await chrome?.close();
    await stack?.stop();
  });

  it('names the metric that holds the stage, with a forecast, and lays out the stages to come', async () => {
    await page.goto(stack.dashboard.rolloutUrl(ids.held));
    const headline = page.locator('p.headline[data-metric]');
    await headline.waitFor({ timeout: 60_000 });
    const text = (await headline.textContent()) ?? '';
    assert.match(text, /^stage 1 of 3 is waiting on (error rate|p99 latency|task success|quality score): /);
    assert.match(text, /decided in about \d+[smh]|no estimate/);
    assert.match(text, /left of its window/);
    const caption = (await page.locator('p.stage-caption').textContent()) ?? '';
    assert.match(
      caption,
      /^stage 1 of 3 · canary 20% · then 50%, promotion · promotion expected about \d\d:\d\d:\d\d/,
    );
    assert.equal(
      await page.locator('svg.timeline g.segment.planned:not(.rest)').count(),
      1,
      'stage 2 drawn ahead',
    );
    assert.equal(await page.locator('svg.timeline g.segment.rest').count(), 1, 'the rest of stage 1');
    assert.equal(await page.locator('svg.timeline g.end.expected').count(), 1);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'view-holding.png'), fullPage: true });
  });

  it('labels a pause on the stage bar and stops promising an end', async () => {
    await sendCommand(
      testEnv().client,
      stack.agents.held,
      'pause',
      { by: 'view-test', reason: 'a look' },
      {
        workflowId: ids.held,
      },
    );
    await page.locator('svg.timeline .pause-label').first().waitFor({ timeout: 30_000 });
    assert.match(
      (await page.locator('svg.timeline .pause-label').first().textContent()) ?? '',
      /^Ⅱ paused \d+s$/,
    );
    await page.locator('p.stage-caption', { hasText: 'no end can be expected' }).waitFor();
    assert.equal(await page.locator('svg.timeline g.end.expected').count(), 0);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'view-paused.png'), fullPage: true });
  });

  it('refuses a stale token saying where the right one is, and takes the right one', async () => {
    await page.evaluate(`localStorage.setItem('agent-canary-token', '${'x'.repeat(24)}')`);
    await page.goto(stack.dashboard.rolloutUrl(ids.held));
    await page.locator('button[data-command="resume"]').click();
    const refusal = page.locator('.message.bad.token');
    await refusal.waitFor({ timeout: 30_000 });
    assert.match((await refusal.textContent()) ?? '', /another dashboard|earlier start/);
    assert.match((await refusal.textContent()) ?? '', /link `agent-canary ui` printed/);
    await page.locator('#token-state[data-state="stale"]').waitFor();
    const s = await getStatus(testEnv().client, stack.agents.held, { workflowId: ids.held });
    assert.equal(s.state, 'paused', 'nothing was done with the stale token');
    // The link opened again in the same tab: only the fragment changes.
    await page.goto(`${stack.dashboard.rolloutUrl(ids.held)}#token=${encodeURIComponent(stack.token)}`);
    await page.locator('#token-state[data-state="set"]').waitFor({ timeout: 10_000 });
  });

  it('lists why each rollout ended, a rollback, an abort and a failed start each in its own colour', async () => {
    await eventually(
      () => getStatus(testEnv().client, stack.agents.stop, { workflowId: ids.stop }),
      (s) => s.state === 'progressing',
      { timeoutMs: 30_000, what: 'the rollout to abort progressing' },
    );
    await sendCommand(
      testEnv().client,
      stack.agents.stop,
      'abort',
      { by: 'view-test', reason: 'wrong build' },
      {
        workflowId: ids.stop,
      },
    );
    await page.goto(stack.dashboard.url);
    const row = (key: string) => page.locator(`tr[data-workflow-id="${ids[key]}"]`);
    await row('bad').locator('.badge', { hasText: 'rolled back' }).waitFor({ timeout: 120_000 });
    await row('stop').locator('.badge', { hasText: 'aborted' }).waitFor({ timeout: 30_000 });
    await row('nowhere').locator('.badge', { hasText: 'failed to start' }).waitFor({ timeout: 60_000 });
    const tone = (key: string) => row(key).locator('.badge').getAttribute('class');
    assert.equal(await tone('bad'), 'badge tone-bad');
    assert.equal(await tone('stop'), 'badge tone-stopped');
    assert.equal(await tone('nowhere'), 'badge tone-warn');
    // Reasons are read from each closed run's history, a few per poll.
    await row('stop').locator('td.why', { hasText: 'wrong build' }).waitFor({ timeout: 30_000 });
    await row('bad')
      .locator('td.why', { hasText: /error_rate|error/ })
      .waitFor({ timeout: 30_000 });
    await row('nowhere')
      .locator('td.why', { hasText: /unknown agent|no agent/ })
      .waitFor({ timeout: 30_000 });
    const started = await row('bad').locator('td').nth(4).textContent();
    assert.match(started ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'view-list.png'), fullPage: true });
    // A command on a finished rollout points at `retry`, not at a plan file nobody has.
    await assert.rejects(
      sendCommand(testEnv().client, stack.agents.bad, 'pause', { by: 'view-test' }, { workflowId: ids.bad }),
      new RegExp(
        `already ended \\(rolled back\\); there is nothing to pause\\.\\n  Fix: run it again with the same plan: \`agent-canary retry ${stack.agents.bad}\``,
      ),
    );
    await page.goto(stack.dashboard.rolloutUrl(ids.bad));
    await page.locator('svg.chart[data-metric="error_rate"] g.decision[data-action="rolled_back"]').waitFor();
    await page.screenshot({ path: path.join(SCREENSHOTS, 'view-rolled-back.png'), fullPage: true });
  });

  it('draws no value axis without values, whole-ms p99 ticks, and close decisions on separate rows', async () => {
    // A string, not a function: the test's transpiler would rewrite the module import.
    const result = (await page.evaluate(`(async () => {
      const chart = await import('/static/chart.js');
      const from = Date.parse('2026-12-05T10:00:00Z');
      const span = { from, to: from + 60000 };
      const check = (at, stable, canary) => ({
        at: new Date(at).toISOString(),
        percent: 20,
        metrics: [{ metric: 'p99_latency_ms', stable, canary, stableSamples: 100, canarySamples: 20,
          status: 'inconclusive', reason: '' }],
      });
      const ticks = (el) =>
        [...el.querySelectorAll('text.tick')].map((t) => t.textContent || '').filter((t) => / m?s$/.test(t));
      const empty = chart.metricChart({ metric: 'p99_latency_ms', checks: [], decisions: [], span, stages: [] });
      const tiny = chart.metricChart({
        metric: 'p99_latency_ms',
        checks: [check(from + 10000, 0.2, 0.4), check(from + 20000, 0.3, 0.5)],
        decisions: [], span, stages: [],
      });
      const at = new Date(from + 30000).toISOString();
      const marked = chart.metricChart({
        metric: 'p99_latency_ms', checks: [], span, stages: [],
        decisions: [
          { at, action: 'check_failed', by: 'agent-canary', reason: 'worse', percent: 20 },
          { at, action: 'rolled_back', by: 'agent-canary', reason: 'worse', percent: 0 },
        ],
      });
      return {
        emptyTicks: ticks(empty),
        tinyTicks: ticks(tiny),
        rows: [...marked.querySelectorAll('g.decision text')].map((t) => t.getAttribute('data-row')),
      };
    })()`)) as { emptyTicks: string[]; tinyTicks: string[]; rows: string[] };
    assert.deepEqual(result.emptyTicks, [], 'no "0 ms / 1 ms / 1 ms" on an empty chart');
    assert.ok(result.tinyTicks.length >= 2, `ticks: ${result.tinyTicks.join(', ')}`);
    assert.equal(
      new Set(result.tinyTicks).size,
      result.tinyTicks.length,
      `ticks: ${result.tinyTicks.join(', ')}`,
    );
    assert.deepEqual(result.rows, ['0', '1'], 'the rollback marker is not drawn over the failed check');
  });

  it('ran every page without a script error', () => {
    assert.deepEqual(pageErrors, []);
  });
});
