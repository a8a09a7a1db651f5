// The dashboard in a real browser (Debian's Chromium driven by playwright-core) against real
// rollouts: the list tells the outcomes apart, a rollout page charts its checks, and the Pause
// button pauses the workflow. Screenshots are kept in .agent-canary/screenshots for people to look at.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { getStatus } from '../src/temporal/rollouts';
import { workflowIdFor } from '../workflows/messages';
import { eventually, testEnv } from './harness';
import { longPlan, startUiStack, type UiStack } from './ui-support';
import { launchChromium, type Chromium } from './support/chromium';
import { requirePrerequisites } from './support/prerequisites';

export const SCREENSHOTS = path.join(__dirname, '..', '.agent-canary', 'screenshots');

describe('agent-canary ui in a browser (Chromium)', function () {
  this.timeout(240_000);
  let stack: UiStack;
  let browser: BrowserContext;
  let page: Page;
  let chrome: Chromium | undefined;
  const ids: Record<string, string> = {};
  const pageErrors: string[] = [];

  before(async function () {
    this.timeout(120_000);
    requirePrerequisites(this, 'chromium');
    mkdirSync(SCREENSHOTS, { recursive: true });
    stack = await startUiStack({
      good: { name: 'web-good' },
      bad: { name: 'web-bad', regressed: true },
      held: { name: 'web-held' },
    });
    for (const key of Object.keys(stack.agents)) ids[key] = workflowIdFor(stack.agents[key]);
    await Promise.all([stack.start('good'), stack.start('bad'), stack.start('held', longPlan)]);
    chrome = await launchChromium();
    browser = chrome.context;
    page = await browser.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
  });

  after(async () => {
    await chrome?.close();
    await stack?.stop();
  });

  it('lists the rollouts with badges that tell promoted, rolled back and progressing apart', async () => {
    await page.goto(stack.dashboard.url);
    const badge = (key: string) => page.locator(`tr[data-workflow-id="${ids[key]}"] .badge`);
    // Live updates: the page polls, so the outcomes arrive without a reload.
    await badge('good').filter({ hasText: 'promoted' }).waitFor({ timeout: 150_000 });
    await badge('bad').filter({ hasText: 'rolled back' }).waitFor({ timeout: 30_000 });
    assert.equal(await badge('held').textContent(), 'progressing');
    const tones = await Promise.all(['good', 'bad', 'held'].map((k) => badge(k).getAttribute('class')));
    assert.deepEqual(tones, ['badge tone-good', 'badge tone-bad', 'badge tone-live']);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'list.png'), fullPage: true });
  });

  it('charts a rollout: a point per check on every metric, the failing checks marked', async () => {
    await page.locator(`tr[data-workflow-id="${ids.bad}"] td.agent a`).click();
    const errorChart = page.locator('svg.chart[data-metric="error_rate"]');
    await errorChart.waitFor();
    // Read in one go: the page redraws as its data refreshes, so two separate reads may see two drawings.
    const drawn = await eventually(
      () =>
        errorChart.evaluate((svg) => ({
          checks: Number(svg.getAttribute('data-points')),
          circles: svg.querySelectorAll('circle[data-series="canary"]').length,
        })),
      (d) => d.checks >= 2 && d.circles === d.checks,
      { timeoutMs: 20_000, what: 'a point per check on the error-rate chart' },
    );
    assert.equal(drawn.circles, drawn.checks);
    assert.ok(
      (await errorChart.locator('circle[data-verdict="fail"]').count()) >= 1,
      'a failing check marked',
    );
    assert.equal(await page.locator('svg.chart').count(), 4, 'one chart per metric');
    assert.ok((await errorChart.locator('g.decision[data-action="rolled_back"]').count()) === 1);
    assert.match((await page.locator('h1 .badge').textContent()) ?? '', /rolled back/);
    assert.ok((await page.locator('table.ledger tr[data-action="rolled_back"]').count()) === 1);
    assert.equal(await page.locator('.actions').isVisible(), false, 'no buttons on a finished rollout');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'rolled-back.png'), fullPage: true });
  });

  it('shows a promoted rollout with both canary stages on its timeline', async () => {
    await page.goto(stack.dashboard.rolloutUrl(ids.good));
    await page.locator('h1 .badge', { hasText: 'promoted' }).waitFor();
    assert.equal(await page.locator('svg.timeline g.segment').count(), 2, 'stages 20% and 50%');
    const bands = await page.locator('svg.chart[data-metric="error_rate"] .band-label').allTextContents();
    assert.deepEqual(bands, ['20%', '50%']);
    assert.equal(await page.locator('svg.timeline g.end.good').count(), 1, 'the end marked as good');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'promoted.png'), fullPage: true });
  });

  it('pauses the rollout with the Pause button, recording who and why', async () => {
    // The token comes in the URL fragment, as `agent-canary ui` prints it.
    await page.goto(`${stack.dashboard.rolloutUrl(ids.held)}#token=${encodeURIComponent(stack.token)}`);
    await page.locator('button[data-command="pause"]').waitFor();
    assert.ok(!page.url().includes('token='), 'the token leaves the address bar');
    await page.fill('#by', 'browser-test');
    await page.locator('#by').dispatchEvent('change');
    await page.fill('#reason', 'checking the traces');
    await page.click('button[data-command="pause"]');
    await page.locator('.message.good').waitFor({ timeout: 30_000 });
    const s = await getStatus(testEnv().client, stack.agents.held, { workflowId: ids.held });
    assert.equal(s.state, 'paused', 'the workflow itself is paused');
    const paused = s.decisions.find((d) => d.action === 'paused');
    assert.equal(paused?.by, 'browser-test');
    assert.equal(paused?.reason, 'checking the traces');
    await page.locator('h1 .badge', { hasText: 'paused' }).waitFor();
    await page.locator('button[data-command="resume"]').waitFor();
    await page.locator('table.ledger tr[data-action="paused"]', { hasText: 'browser-test' }).waitFor();
    await eventually(
      () => page.locator('svg.chart[data-metric="error_rate"]').getAttribute('data-points'),
      (n) => Number(n) >= 2,
      { timeoutMs: 20_000, what: 'points on the paused rollout chart' },
    );
    await page.screenshot({ path: path.join(SCREENSHOTS, 'paused.png'), fullPage: true });
    // More observation from the dashboard, admitted by the workflow's own rule.
    await page.click('button[data-command="extend"]');
    await page
      .locator('.message.good', { hasText: 'Observe 10 min longer: done' })
      .waitFor({ timeout: 30_000 });
    const extended = await getStatus(testEnv().client, stack.agents.held, { workflowId: ids.held });
    assert.equal(extended.extendedMs, 600_000, 'the stage observes 10 minutes longer');
  });

  it('refuses a button press without the token, saying how to get one', async () => {
    await page.evaluate('localStorage.clear()');
    await page.goto(stack.dashboard.rolloutUrl(ids.held));
    await page.locator('button[data-command="resume"]').click();
    const text = await page.locator('.message.bad').textContent();
    assert.match(text ?? '', /need the dashboard token/);
    const s = await getStatus(testEnv().client, stack.agents.held, { workflowId: ids.held });
    assert.equal(s.state, 'paused', 'nothing was sent');
  });

  it('ran every page without a script error', () => {
    // The token-less press is refused in the page before any request, so not even a 401 shows here.
    assert.deepEqual(pageErrors, []);
  });
});
