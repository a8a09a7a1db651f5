// What an AgentRollout's status says for each state of its rollout (pure): the conditions that
// `kubectl wait`, Argo CD and Flux read must never claim what did not happen.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fromRollout, notRolling, settled, withConditions } from '../src/kubernetes/operator-status';
import { managerOf } from '../src/kubernetes/operator';
import type { RolloutStatus } from '../workflows/messages';

const status = (over: Partial<RolloutStatus>): RolloutStatus => ({
  workflowId: 'canary-bot',
  agent: 'bot',
  stable: 'v1',
  canary: 'v2',
  state: 'progressing',
  stageIndex: 1,
  stageCount: 3,
  canaryPercent: 25,
  stages: [],
  stageStartedAt: '2026-12-05T10:00:00.000Z',
  observedMs: 0,
  remainingMs: 0,
  startedAt: '2026-12-05T09:00:00.000Z',
  deadlineAt: '2026-12-05T15:00:00.000Z',
  failedChecks: 0,
  failureLimit: 1,
  inconclusiveStreak: 0,
  lastAnalysis: null,
  decisions: [],
  notifyFailures: [],
  ...over,
});
const conds = (d: { type: string; status: string; reason: string }[]) =>
  Object.fromEntries(d.map((c) => [c.type, `${c.status}/${c.reason}`]));

describe('AgentRollout status from the rollout (pure)', () => {
  it('progressing and paused: Progressing only; stage and weight as the rollout says', () => {
    const p = fromRollout(status({}));
    assert.deepEqual(conds(p.conditions), {
      Progressing: 'True/Progressing',
      Promoted: 'False/Progressing',
      RolledBack: 'False/Progressing',
      Ready: 'False/Progressing',
    });
    assert.deepEqual([p.fields.stage, p.fields.stageCount, p.fields.weight], [2, 3, 25]);
    assert.equal(conds(fromRollout(status({ state: 'paused' })).conditions).Progressing, 'True/Paused');
  });

  it('promoted: Promoted and Ready, with the reason', () => {
    const p = fromRollout(
      status({
        state: 'promoted',
        decisions: [
          {
            at: '',
            action: 'promoted',
            by: 'agent-canary',
            reason: 'all stages passed',
            stageIndex: 2,
            percent: 100,
          },
        ],
      }),
    );
    assert.deepEqual(conds(p.conditions), {
      Progressing: 'False/Promoted',
      Promoted: 'True/Promoted',
      RolledBack: 'False/Promoted',
      Ready: 'True/Promoted',
    });
    assert.equal(p.fields.reason, 'all stages passed');
  });

  it('rolled back and aborted: RolledBack with the reason, never Ready', () => {
    const r = fromRollout(
      status({
        state: 'rolled_back',
        decisions: [
          {
            at: '',
            action: 'rolled_back',
            by: 'agent-canary',
            reason: 'canary unhealthy: error_rate 30%',
            stageIndex: 1,
            percent: 0,
          },
        ],
      }),
    );
    assert.deepEqual(conds(r.conditions).RolledBack, 'True/RolledBack');
    assert.deepEqual(conds(r.conditions).Ready, 'False/RolledBack');
    assert.equal(r.fields.reason, 'canary unhealthy: error_rate 30%');
    assert.equal(r.fields.weight, 0);
    assert.equal(conds(fromRollout(status({ state: 'aborted' })).conditions).RolledBack, 'True/Aborted');
  });

  it('an execution ended outside the rollout (terminated): RolledBack Unknown, not True', () => {
    const t = fromRollout(status({ execution: { status: 'TERMINATED', closedAt: null, cause: 'by hand' } }));
    assert.deepEqual(conds(t.conditions), {
      Progressing: 'False/Terminated',
      Promoted: 'False/Terminated',
      RolledBack: 'Unknown/Terminated',
      Ready: 'False/Terminated',
    });
    assert.equal(t.fields.state, 'failed');
    assert.match(t.fields.reason!, /terminated: by hand/);
  });

  it('steady is Ready; invalid and waiting are not', () => {
    assert.equal(conds(notRolling('steady', 'Steady', 'm')).Ready, 'True/Steady');
    assert.equal(conds(notRolling('invalid', 'InvalidSpec', 'm')).Ready, 'False/InvalidSpec');
    assert.equal(settled({ state: 'steady' }), true);
    assert.equal(settled({ state: 'waiting' }), false);
  });

  it('a condition keeps its transition time while its status holds', () => {
    const first = withConditions(undefined, notRolling('waiting', 'AgentBusy', 'm'), 1, 'T1');
    const again = withConditions(first, notRolling('waiting', 'AgentBusy', 'm2'), 2, 'T2');
    assert.ok(again.every((c) => c.lastTransitionTime === 'T1' && c.observedGeneration === 2));
    const changed = withConditions(again, notRolling('steady', 'Steady', 'm'), 3, 'T3');
    assert.equal(changed.find((c) => c.type === 'Ready')!.lastTransitionTime, 'T3');
    assert.equal(changed.find((c) => c.type === 'Promoted')!.lastTransitionTime, 'T1');
  });

  it('the actor of an annotation command is the field manager that wrote it', () => {
    const ar = {
      apiVersion: 'agent-canary.dev/v1alpha1' as const,
      kind: 'AgentRollout' as const,
      metadata: {
        name: 'x',
        namespace: 'y',
        managedFields: [
          { manager: 'kubectl-client-side-apply', fieldsV1: { 'f:spec': {} } },
          {
            manager: 'argocd-controller',
            fieldsV1: { 'f:metadata': { 'f:annotations': { 'f:agent-canary.dev/promote': {} } } },
          },
        ],
      },
      spec: {},
    };
    assert.equal(managerOf(ar, 'agent-canary.dev/promote'), 'argocd-controller');
    assert.equal(managerOf(ar, 'agent-canary.dev/abort'), undefined);
  });
});

describe('operator and worker flags (CLI)', () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [join(__dirname, '..', 'bin', 'agent-canary.js'), ...args], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1' },
    });
  it('a bad --resync or --metrics-listen is a usage error naming it (exit 2), before anything connects', () => {
    let r = cli('operator', '--resync', '1ms');
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--resync must be between 500ms and 10m/);
    r = cli('worker', '--metrics-listen', 'nowhere');
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--metrics-listen: "nowhere" is not host:port/);
  });
});
