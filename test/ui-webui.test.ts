// The Temporal Web UI (the one inside the `temporal` CLI) tells rollout outcomes apart in its
// workflow list with the default columns, in a real browser (Debian's Chromium, playwright-core):
// real rollouts on a dev server of this test's own (the suite's runs headless) are promoted, rolled
// back by the judge, aborted by command and paused, and the Status column says Completed, Failed,
// Canceled and Running. Every client still reads the outcome: the result, `status`, the dashboard.
// Screenshots of the Web UI's list, a rollout's page there, and the dashboard are kept in
// .agent-canary/screenshots for people to look at.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { BrowserContext, Page } from 'playwright-core';
import { startDevServer, type DevServer } from '../src/temporal/devserver';
import { getStatus, sendCommand, type Started } from '../src/temporal/rollouts';
import { readRolloutHistory } from '../src/ui/history';
import { workflowIdFor, type RolloutResult } from '../workflows/messages';
import { eventually, testEnv } from './harness';
import { saveHistory } from './support/histories';
import { longPlan, startUiStack, type UiStack } from './ui-support';
import { launchChromium, type Chromium } from './support/chromium';
import { requirePrerequisites } from './support/prerequisites';

const SCREENSHOTS = path.join(__dirname, '..', '.agent-canary', 'screenshots');

describe('the Temporal Web UI list tells rollout outcomes apart (Chromium)', function () {
  this.timeout(300_000);
  let server: DevServer;
  let connection: Connection;
  let nativeConnection: NativeConnection;
  let client: Client;
  let stack: UiStack;
  let browser: BrowserContext;
  let page: Page;
  let chrome: Chromium | undefined;
  const ids: Record<string, string> = {};
  const started: Record<string, Started> = {};
  const results: Record<string, RolloutResult> = {};

  before(async function () {
    this.timeout(180_000);
    requirePrerequisites(this, 'chromium');
    mkdirSync(SCREENSHOTS, { recursive: true });
    server = await startDevServer({ ui: true, log: (l) => process.stderr.write(`${l}\n`) });
    connection = await Connection.connect({ address: server.address });
    nativeConnection = await NativeConnection.connect({ address: server.address });
    client = new Client({ connection, namespace: server.namespace });
    stack = await startUiStack(
      {
        good: { name: 'wui-promoted' },
        bad: { name: 'wui-rolled-back', regressed: true },
        stop: { name: 'wui-aborted' },
        held: { name: 'wui-paused' },
      },
      {
        client,
        nativeConnection,
        namespace: server.namespace,
        workflowBundle: testEnv().workflowBundle,
        uiUrl: server.uiUrl,
      },
    );
    for (const key of Object.keys(stack.agents)) ids[key] = workflowIdFor(stack.agents[key]);
    const [good, bad, stop, held] = await Promise.all([
      stack.start('good'),
      stack.start('bad'),
      stack.start('stop', longPlan),
      stack.start('held', longPlan),
    ]);
    Object.assign(started, { good, bad, stop, held });
    const by = { by: 'webui-test' };
    await sendCommand(client, stack.agents.held, 'pause', { ...by, reason: 'looking at traces' });
    await sendCommand(client, stack.agents.stop, 'abort', { ...by, reason: 'bad answers in #support' });
    [results.good, results.bad, results.stop] = await Promise.all([
      good.result(),
      bad.result(),
      stop.result(),
    ]);
    await saveHistory('v2-outcome-rolled-back', client.workflow.getHandle(ids.bad));
    await saveHistory('v2-outcome-aborted', client.workflow.getHandle(ids.stop));
    // Wide enough for all six default columns of the Web UI list.
    chrome = await launchChromium({ width: 2100, height: 900 });
    browser = chrome.context;
    page = await browser.newPage();
  });

  after(async () => {
    await chrome?.close();
    await stack?.stop();
    await nativeConnection?.close().catch(() => undefined);
    await connection?.close().catch(() => undefined);
    await server?.stop();
  });

  it('closes each run in Temporal by its outcome, and every client still reads the outcome', async () => {
    const statusOf = async (key: string) =>
      (await client.workflow.getHandle(ids[key]).describe()).status.name;
    assert.deepEqual(await Promise.all(['good', 'bad', 'stop', 'held'].map(statusOf)), [
      'COMPLETED',
      'FAILED',
      'CANCELLED',
      'RUNNING',
    ]);
    // `start --wait`, the demo and the TS client read a RolloutResult however the run closed.
    assert.equal(results.good.state, 'promoted');
    assert.equal(results.bad.state, 'rolled_back');
    assert.match(results.bad.reason, /error_rate/);
    assert.deepEqual(results.stop, { state: 'aborted', stable: 'v1', reason: 'bad answers in #support' });
    // `status` of a closed run: the rollout's own ending, not an abnormal execution.
    for (const [key, state] of [
      ['bad', 'rolled_back'],
      ['stop', 'aborted'],
    ] as const) {
      const s = await getStatus(client, stack.agents[key]);
      assert.equal(s.state, state);
      assert.equal(s.execution, undefined, `${key}: ${JSON.stringify(s.execution)}`);
    }
    // The dashboard reads the ending back from history, for runs no worker answers for.
    const ending = async (key: string) => {
      const runId = (await client.workflow.getHandle(ids[key]).describe()).runId;
      const e = (await readRolloutHistory(client, ids[key], runId)).ending;
      return e && { kind: e.kind, state: e.state, by: e.by };
    };
    assert.deepEqual(await ending('bad'), { kind: 'failed', state: 'rolled_back', by: null });
    assert.deepEqual(await ending('stop'), { kind: 'canceled', state: 'aborted', by: 'webui-test' });
    // Any SDK's result() tells the truth too: a Failed run whose failure carries the result.
    const err = await client.workflow
      .getHandle(ids.bad)
      .result()
      .then(
        () => null,
        (e: { cause?: { type?: string; message?: string } }) => e,
      );
    assert.equal(err?.cause?.type, 'RolledBack');
    assert.match(err?.cause?.message ?? '', /^rolled back: /);
  });

  it('shows Completed, Failed, Canceled and Running in the default list, no columns configured', async () => {
    const list = `${server.uiUrl}/namespaces/${server.namespace}/workflows`;
    // A rollout's earlier runs (continued as new, every 150 events) are rows of their own: its row is
    // the one of its last run.
    const row = (key: string) =>
      page.locator('tr[data-testid="workflows-summary-configurable-table-row"]', {
        hasText: ids[key],
        hasNotText: 'Continued as New',
      });
    const statusText = async (key: string) =>
      (
        (await row(key).locator('td[data-testid="workflows-summary-table-body-cell"]').first().innerText()) ??
        ''
      )
        .replace(/\s+/g, ' ')
        .trim();
    await page.goto(list);
    // Visibility is eventually consistent: reload until every row is there.
    await eventually(
      async () => {
        await page.reload();
        await row('held').waitFor({ timeout: 10_000 });
        return Promise.all(['good', 'bad', 'stop', 'held'].map((k) => row(k).count()));
      },
      (counts) => counts.every((n) => n === 1),
      { timeoutMs: 60_000, intervalMs: 500, what: 'the four rollouts in the Web UI list' },
    );
    const headers = (await page.locator('thead th').allInnerTexts()).map((t) => t.trim()).filter(Boolean);
    // The checkbox column's label aside, Web UI 2.42's default columns: no summary, no search attribute.
    assert.deepEqual(
      headers.filter((h) => h !== 'Select all Workflows'),
      ['Status', 'Workflow ID', 'Run ID', 'Type', 'Start', 'End'],
    );
    assert.deepEqual(await Promise.all(['good', 'bad', 'stop', 'held'].map(statusText)), [
      'Completed',
      'Failed',
      'Canceled',
      'Running',
    ]);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'webui-list.png'), fullPage: true });
  });

  it('says on a rolled-back run’s page why it failed', async () => {
    const runId = (await client.workflow.getHandle(ids.bad).describe()).runId;
    await page.goto(`${server.uiUrl}/namespaces/${server.namespace}/workflows/${ids.bad}/${runId}/history`);
    await page
      .getByText(/rolled back: /)
      .first()
      .waitFor({ timeout: 30_000 });
    await page.screenshot({ path: path.join(SCREENSHOTS, 'webui-rolled-back.png'), fullPage: true });
  });

  it('shows a paused rollout’s Current Details: its decisions and the Signals it takes', async () => {
    const runId = (await client.workflow.getHandle(ids.held).describe()).runId;
    await page.goto(`${server.uiUrl}/namespaces/${server.namespace}/workflows/${ids.held}/${runId}/history`);
    // Summary, Details and Current Details are under User Metadata; Current Details come from the
    // worker (a built-in query), so a worker must be answering. The Web UI renders each markdown
    // text in an iframe of its own (/render).
    await page.getByText('User Metadata', { exact: true }).first().click();
    const details = page.frameLocator('iframe[title="output"]').last();
    await details
      .getByText(/paused by webui-test: looking at traces/)
      .first()
      .waitFor({ timeout: 30_000 });
    await details
      .getByText(/Request Cancellation aborts the rollout/)
      .first()
      .waitFor();
    // The Details text (the plan, set at start) is not cut off at the bottom of its frame: the Web UI
    // sizes the frame on load without the body's margin, so the text ends on a rule it may cut. A
    // run continued as new (every 150 events: this one checks every second) has no Details of its
    // own; its Current Details (the last frame) carry the plan instead.
    const first = (await client.workflow.getHandle(ids.held, runId).fetchHistory()).events?.[0];
    const continued = Boolean(first?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId);
    const frames = page.locator('iframe[title="output"]');
    const detailsFrame = await (continued ? frames.last() : frames.nth(1)).contentFrame();
    await detailsFrame.getByText(/deadline 1h/).waitFor();
    const cut = await detailsFrame.locator('main').evaluate((main) => {
      const texts = [...main.querySelectorAll('p, table')];
      const bottom = Math.max(...texts.map((e) => e.getBoundingClientRect().bottom));
      return bottom - (globalThis as unknown as { innerHeight: number }).innerHeight;
    });
    assert.ok(cut <= 0, `the Details text runs ${cut}px past its frame`);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'webui-paused.png'), fullPage: true });
  });

  it('shows the same outcomes as badges on the dashboard', async () => {
    await page.goto(stack.dashboard.url);
    const badge = (key: string) => page.locator(`tr[data-workflow-id="${ids[key]}"] .badge`);
    await badge('stop').filter({ hasText: 'aborted' }).waitFor({ timeout: 30_000 });
    assert.deepEqual(
      await Promise.all(
        ['good', 'bad', 'stop', 'held'].map(async (k) => (await badge(k).textContent())?.trim()),
      ),
      ['promoted', 'rolled back', 'aborted', 'paused'],
    );
    await page.screenshot({ path: path.join(SCREENSHOTS, 'dashboard-outcomes.png'), fullPage: true });
  });
});
