// The workflow checks command inputs with plain guards (no zod in its sandbox) and the clients with
// zod schemas: the two must accept and refuse the same inputs, with the same values. And the one
// admission rule gives the same answer asked of the workflow's state and of the status it shows.
// Pure: no server.
import assert from 'node:assert/strict';
import { COMMANDS, type CommandKind } from '../src/contract';
import { resolvePlan } from '../src/plan';
import {
  AbortInputSchema,
  ApproveInputSchema,
  DismissInputSchema,
  ExtendInputSchema,
  PauseInputSchema,
  PromoteInputSchema,
  ResumeInputSchema,
} from '../src/temporal/command-schemas';
import { commandOf, lenientAbort, optionsOf } from '../workflows/guards';
import { initialState, refusal, step, type Command, type PolicyState } from '../workflows/policy';
import { admission, admissionViewOfStatus } from '../workflows/policy/admission';
import { statusOf } from '../workflows/view';

const SCHEMAS: Record<CommandKind, { safeParse(v: unknown): { success: boolean; data?: unknown } }> = {
  pause: PauseInputSchema,
  resume: ResumeInputSchema,
  promote: PromoteInputSchema,
  abort: AbortInputSchema,
  extend: ExtendInputSchema,
  dismiss: DismissInputSchema,
  approve: ApproveInputSchema,
};

const INPUTS: unknown[] = [
  undefined,
  {},
  { by: 'ana', reason: 'looked at it' },
  { by: '' },
  { by: 'x'.repeat(200) },
  { by: 'x'.repeat(201) },
  { reason: 'r'.repeat(2000) },
  { reason: 'r'.repeat(2001) },
  { reason: '' },
  { reason: 7 },
  { full: true },
  { full: 'yes' },
  { duration: '30m' },
  { duration: 90_000 },
  { duration: '500ms' },
  { duration: 999 },
  { duration: '8d' },
  { duration: '7d' },
  { duration: 'soon' },
  { duration: -5 },
  { duration: null },
  { duration: '30m', by: 'ana', reason: 'more data' },
  { sudo: true },
  'pause',
  [],
];

describe('command guards in the workflow agree with the clients’ schemas', () => {
  for (const kind of COMMANDS) {
    it(`${kind}: the same inputs accepted, with the same values`, () => {
      for (const input of INPUTS) {
        const guard = commandOf(kind, input);
        const schema = SCHEMAS[kind].safeParse(input ?? {});
        assert.equal(
          guard.ok,
          schema.success,
          `${kind} ${JSON.stringify(input)}: ${guard.ok ? '' : guard.problem}`,
        );
        if (guard.ok) assert.deepEqual(guard.value.input, schema.data, `${kind} ${JSON.stringify(input)}`);
        else assert.match(guard.problem, /\S+: \S/, 'a problem names its field');
      }
    });
  }

  it('an abort by Signal always goes through, keeping what is usable', () => {
    assert.deepEqual(lenientAbort({ by: 'ana' }).input, {
      reason: 'aborted by signal (no reason given)',
      by: 'ana',
    });
    assert.deepEqual(lenientAbort('stop').input, { reason: 'aborted by signal (no reason given)' });
    assert.deepEqual(lenientAbort({ reason: 'bad', extra: 1 }).input, { reason: 'bad' });
  });

  it('start options: ours pass, anything else is refused naming the field', () => {
    assert.ok(optionsOf(undefined).ok);
    assert.ok(optionsOf({ outcomeStatus: true, planChecked: true }).ok);
    const bad = (o: unknown) => {
      const r = optionsOf(o);
      assert.equal(r.ok, false, JSON.stringify(o));
      return r.ok ? '' : r.problem;
    };
    assert.match(bad({ nope: 1 }), /options\.nope/);
    assert.match(bad({ carried: { version: 1, stageIndex: 0 } }), /options\.carried\.version/);
    assert.match(bad({ continueAsNewAfterEvents: 5 }), /continueAsNewAfterEvents/);
    assert.match(bad({ retry: { by: 'a', reason: 'b' } }), /retry\.previousRunId/);
  });
});

describe('one admission rule: the workflow’s state and the status it shows give the same answer', () => {
  const plan = resolvePlan({
    agent: 'bot',
    stable: 'v1',
    canary: 'v2',
    stages: [{ weight: 10, observe: '10m', approval: true }, { weight: 50, observe: '10m' }, { weight: 100 }],
    progressDeadline: '1h',
    analysis: { interval: '1m' },
  });
  const commands: Command[] = [
    { kind: 'pause', input: {} },
    { kind: 'resume', input: {} },
    { kind: 'promote', input: {} },
    { kind: 'abort', input: { reason: 'r' } },
    { kind: 'extend', input: { duration: 5 * 60_000 } },
    { kind: 'extend', input: { duration: 55 * 60_000 } },
    { kind: 'dismiss', input: {} },
    { kind: 'approve', input: {} },
  ];
  /** At the time of the state's last step: the status adds nothing pending then. */
  const agree = (s: PolicyState, now: number, what: string) => {
    const view = admissionViewOfStatus(statusOf(plan, s, now, 'canary-bot'));
    for (const cmd of commands) {
      const byStatus = admission(view, cmd);
      const byState = refusal(s, cmd, plan);
      assert.equal(
        byStatus === null,
        byState === null,
        `${what}, ${cmd.kind} ${JSON.stringify(cmd.input)}: status says ${byStatus}, state says ${byState}`,
      );
      if (byState !== null && byStatus !== null)
        assert.equal(byStatus.split(' (')[0], byState.split(' (')[0]);
    }
  };

  it('before the first split, in a stage, paused, approved, aborting', () => {
    let s = initialState(0, 3, 'deferred', 1);
    agree(s, 0, 'before the first split');
    s = step(s, plan, { type: 'start' }, 0).state;
    s = step(s, plan, { type: 'write_done', opId: s.inflight!.opId }, 1_000).state;
    agree(s, 1_000, 'in stage 1');
    s = step(s, plan, { type: 'command', command: { kind: 'pause', input: { by: 'ana' } } }, 3_000).state;
    agree(s, 3_000, 'paused');
    s = step(s, plan, { type: 'command', command: { kind: 'approve', input: { by: 'ana' } } }, 5_000).state;
    agree(s, 5_000, 'approved');
    s = step(
      s,
      plan,
      { type: 'command', command: { kind: 'abort', input: { reason: 'done' } } },
      7_000,
    ).state;
    agree(s, 7_000, 'aborting');
  });
});
