// The demo's terminal lines: a check is shown at the share of the stage it read (not the share at
// the time of the poll), stage lines do not repeat themselves, the closing table lines up.
import assert from 'node:assert/strict';
import { checkPercent, describeStage, summaryTable } from '../src/demo/progress';
import type { DemoRollout } from '../src/demo/result';
import type { Decision, LastAnalysis, RolloutStatus } from '../workflows/messages';

const decision = (at: string, action: Decision['action'], percent: number, reason = ''): Decision => ({
  at,
  action,
  by: 'agent-canary',
  reason,
  stageIndex: percent === 50 ? 1 : 0,
  percent,
});

function status(lastAnalysis: Partial<LastAnalysis> | null, canaryPercent: number): RolloutStatus {
  return {
    canaryPercent,
    lastAnalysis: lastAnalysis as LastAnalysis | null,
    decisions: [
      decision('2026-01-01T00:00:00.000Z', 'started', 0),
      decision('2026-01-01T00:00:01.000Z', 'stage_started', 20, 'stage 1: 20%'),
      decision('2026-01-01T00:00:09.000Z', 'stage_started', 50, 'stage 1 healthy after 3 passing checks'),
    ],
  } as RolloutStatus;
}

describe('demo progress lines', () => {
  it('shows a check at the share of the stage whose window it read', () => {
    // The last check of stage 1, seen by a poll after stage 2 began.
    const s = status({ at: '2026-01-01T00:00:08.500Z', windowStart: '2026-01-01T00:00:01.000Z' }, 50);
    assert.equal(checkPercent(s), 20);
    const next = status({ at: '2026-01-01T00:00:10.000Z', windowStart: '2026-01-01T00:00:09.000Z' }, 50);
    assert.equal(checkPercent(next), 50);
    // A check before any stage decision was seen falls back to the time order, never to 0%.
    const early = status({ at: '2026-01-01T00:00:02.000Z', windowStart: '2026-01-01T00:00:01.500Z' }, 0);
    assert.equal(checkPercent(early), 20);
  });

  it('says a stage once, with the reason only when it adds something', () => {
    const [, first, second] = status(null, 50).decisions;
    assert.equal(describeStage(first), 'stage 1: canary at 20%');
    assert.equal(describeStage(second), 'stage 2: canary at 50% (stage 1 healthy after 3 passing checks)');
    assert.equal(
      describeStage({ ...second, by: 'alice', reason: 'looks fine' }),
      'stage 2: canary at 50% (by alice: looks fine)',
    );
  });

  it('ends with an aligned table naming the outcome, the traffic and the page', () => {
    const rows: DemoRollout[] = [
      {
        agent: 'support-bot',
        stable: 'v1',
        canary: 'v2',
        expected: 'promoted',
        state: 'promoted',
        reason: '',
        finalSplit: { stable: 'v2', canary: null, canaryWeight: 0 },
      },
      {
        agent: 'search-bot',
        stable: 'v1',
        canary: 'v2',
        expected: 'rolled_back',
        state: 'promoted',
        reason: '',
        finalSplit: { stable: 'v2', canary: null, canaryWeight: 0 },
      },
    ];
    const lines = summaryTable(rows, {
      uiUrl: null,
      namespace: 'default',
      dashboard: { rolloutUrl: (id) => `http://127.0.0.1:1/rollouts/${id}` },
    });
    assert.equal(lines.length, 3);
    assert.match(
      lines[1],
      /^support-bot\s+v1 -> v2\s+promoted\s+yes\s+v2 100%\s+http:\S+canary-support-bot$/,
    );
    assert.match(lines[2], /search-bot\s+.*NO \(expected rolled back\)/);
    const col = (l: string) => l.indexOf('v1 -> v2');
    assert.equal(col(lines[1]), col(lines[2]), 'columns line up');
  });
});
