// Plain guards for what reaches the workflow from outside: command inputs (Signals and Update
// validators) and start options. They check the contract's shapes (src/contract/types.ts) as the
// clients' zod schemas do (src/temporal/command-schemas.ts), without zod in the sandbox: synchronous,
// and answering with a problem that names the field, as in Temporal's safe-message-handlers sample.
import {
  MAX_BY_CHARS,
  MAX_OBSERVE_MS,
  MAX_REASON_CHARS,
  type CommandKind,
  type RolloutOptions,
} from '../src/contract';
import { formatDuration, parseDuration } from '../src/plan/duration';
import type { Command } from './policy';

export type Checked<T> = { ok: true; value: T } | { ok: false; problem: string };

const ALLOWED: Record<CommandKind, readonly string[]> = {
  pause: ['reason', 'by'],
  resume: ['reason', 'by'],
  promote: ['full', 'reason', 'by'],
  abort: ['reason', 'by'],
  extend: ['duration', 'reason', 'by'],
  dismiss: ['reason', 'by'],
  approve: ['reason', 'by'],
};

function text(v: unknown, field: string, max: number, required = false): string | undefined {
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string') throw new Error(`${field}: expected a string`);
  if (required && v.length === 0) throw new Error(`${field}: an abort needs a reason`);
  if (v.length > max) throw new Error(`${field}: must be at most ${max} characters`);
  return v;
}

function duration(v: unknown): number {
  if (typeof v !== 'string' && typeof v !== 'number') throw new Error('duration: expected "30m" or ms');
  let ms: number;
  try {
    ms = parseDuration(v);
  } catch (err) {
    throw new Error(`duration: ${(err as Error).message}`);
  }
  if (ms <= 0) throw new Error(`duration: must be a positive duration, got "${v}"`);
  if (ms < 1_000) throw new Error(`duration: must be at least ${formatDuration(1_000)}`);
  if (ms > MAX_OBSERVE_MS) throw new Error(`duration: must be at most ${formatDuration(MAX_OBSERVE_MS)}`);
  return ms;
}

/** A command's input checked like the client's schema: absent means `{}`; unknown fields are refused. */
export function commandOf(kind: CommandKind, raw: unknown): Checked<Command> {
  try {
    const input = raw ?? {};
    if (typeof input !== 'object' || Array.isArray(input)) throw new Error('(input): expected an object');
    const o = input as Record<string, unknown>;
    const unknown = Object.keys(o).filter((k) => !ALLOWED[kind].includes(k));
    if (unknown.length > 0) throw new Error(`(input): Unrecognized key: "${unknown[0]}"`);
    const by = text(o.by, 'by', MAX_BY_CHARS);
    const attribution = {
      ...(o.reason !== undefined ? { reason: text(o.reason, 'reason', MAX_REASON_CHARS) } : {}),
      ...(by !== undefined ? { by } : {}),
    };
    switch (kind) {
      case 'abort':
        return {
          ok: true,
          value: {
            kind,
            input: { reason: text(o.reason, 'reason', MAX_REASON_CHARS, true)!, ...(by ? { by } : {}) },
          },
        };
      case 'promote':
        if (o.full !== undefined && typeof o.full !== 'boolean') throw new Error('full: expected a boolean');
        return {
          ok: true,
          value: {
            kind,
            input: { ...attribution, ...(o.full !== undefined ? { full: o.full as boolean } : {}) },
          },
        };
      case 'extend':
        return { ok: true, value: { kind, input: { ...attribution, duration: duration(o.duration) } } };
      default:
        return { ok: true, value: { kind, input: attribution } as Command };
    }
  } catch (err) {
    return { ok: false, problem: (err as Error).message };
  }
}

/**
 * An abort by Signal always goes through: stopping a canary must not depend on typing the payload
 * right. What is usable of the input is kept.
 */
export function lenientAbort(raw: unknown): Command & { kind: 'abort' } {
  const checked = commandOf('abort', raw);
  if (checked.ok) return checked.value as Command & { kind: 'abort' };
  const o = (typeof raw === 'object' && raw !== null ? raw : {}) as { reason?: unknown; by?: unknown };
  return {
    kind: 'abort',
    input: {
      reason:
        typeof o.reason === 'string' && o.reason
          ? o.reason.slice(0, MAX_REASON_CHARS)
          : 'aborted by signal (no reason given)',
      ...(typeof o.by === 'string' ? { by: o.by.slice(0, MAX_BY_CHARS) } : {}),
    },
  };
}

/** Start options as agent-canary's clients and continue-as-new write them; anything else is refused. */
export function optionsOf(raw: unknown): Checked<RolloutOptions> {
  const o = (raw ?? {}) as Record<string, unknown>;
  const bad = (field: string, message: string): Checked<RolloutOptions> => ({
    ok: false,
    problem: `options.${field}: ${message}`,
  });
  if (typeof o !== 'object' || Array.isArray(o)) return bad('', 'expected an object');
  for (const k of Object.keys(o)) {
    if (!['carried', 'continueAsNewAfterEvents', 'outcomeStatus', 'retry', 'planChecked'].includes(k))
      return bad(k, 'Unrecognized key');
  }
  const c = o.carried as { version?: unknown; stageIndex?: unknown } | undefined;
  if (c !== undefined) {
    if (typeof c !== 'object' || c === null || c.version !== 2) return bad('carried.version', 'expected 2');
    if (!Number.isInteger(c.stageIndex) || (c.stageIndex as number) < 0)
      return bad('carried.stageIndex', 'expected an index');
  }
  const n = o.continueAsNewAfterEvents;
  if (n !== undefined && (!Number.isInteger(n) || (n as number) < 10 || (n as number) > 50_000))
    return bad('continueAsNewAfterEvents', 'expected an integer from 10 to 50000');
  if (o.outcomeStatus !== undefined && typeof o.outcomeStatus !== 'boolean')
    return bad('outcomeStatus', 'expected a boolean');
  if (o.planChecked !== undefined && o.planChecked !== true) return bad('planChecked', 'expected true');
  const r = o.retry as Record<string, unknown> | undefined;
  if (r !== undefined) {
    if (typeof r !== 'object' || r === null) return bad('retry', 'expected an object');
    for (const [k, max] of [
      ['by', 200],
      ['reason', 2000],
      ['previousRunId', 200],
    ] as const) {
      const v = r[k];
      if (typeof v !== 'string' || v.length === 0 || v.length > max)
        return bad(`retry.${k}`, `expected a string of 1 to ${max} characters`);
    }
    if (Object.keys(r).length !== 3) return bad('retry', 'expected only by, reason and previousRunId');
  }
  return { ok: true, value: o as RolloutOptions };
}
