// Durations as people write them in plans and flags: "500ms", "30s", "5m", "1h30m", "2h". Plan files
// must name the unit (unitlessDurations); a bare number is milliseconds only for the TypeScript API
// and for flags documented in ms. Parsed once at the boundary; everything inside works in ms.
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/** No duration anywhere is longer than this (a year): beyond it timers and dates stop making sense. */
export const MAX_DURATION_MS = 365 * 86_400_000;

export function parseDuration(input: string | number): number {
  const ms = parseUnbounded(input);
  if (!Number.isFinite(ms) || ms > MAX_DURATION_MS) {
    throw new Error(`${quote(input)} is too long: durations are at most 365d`);
  }
  return ms;
}

function quote(input: string | number): string {
  const text = String(input);
  return `"${text.length > 40 ? `${text.slice(0, 40)}…` : text}"`;
}

function parseUnbounded(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) throw new Error(`${quote(input)} is not a duration`);
    return input;
  }
  if (input.length > 100) throw new Error(`${quote(input)} is not a duration (too long)`);
  const text = input.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  let total = 0;
  PART.lastIndex = 0;
  let pos = 0;
  while (pos < text.length) {
    PART.lastIndex = pos;
    const m = PART.exec(text);
    if (!m) throw new Error(`${quote(input)} is not a duration (use e.g. 30s, 5m, 1h30m)`);
    total += Number(m[1]) * UNIT_MS[m[2]];
    pos = PART.lastIndex;
  }
  if (text.length === 0) throw new Error('empty duration');
  return total;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return [h ? `${h}h` : '', m ? `${m}m` : '', sec || (!h && !m) ? `${sec}s` : ''].join('');
}

/** Where a plan file holds durations: the paths that must carry a unit. */
const PLAN_DURATION_PATHS: readonly (readonly string[])[] = [
  ['stages', '*', 'observe'],
  ['steps', 'interval'],
  ['analysis', 'interval'],
  ['analysis', 'feedbackHorizon'],
  ['progressDeadline'],
  ['leaseTtl'],
];

/**
 * Durations written without a unit in a plan file ("observe: 2"), each with the field's dotted path.
 * A bare number meant milliseconds, which no one writing a plan by hand means: plan files must say
 * the unit. Only files are held to this; the TypeScript API's numbers are typed as milliseconds, and
 * the workflow keeps accepting them from plans it was started with.
 */
export function unitlessDurations(doc: unknown): { field: string; message: string }[] {
  const out: { field: string; message: string }[] = [];
  const visit = (node: unknown, rest: readonly string[], at: string[]) => {
    if (rest.length === 0) {
      const bare =
        (typeof node === 'number' && Number.isFinite(node)) ||
        (typeof node === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(node));
      if (bare) {
        const n = String(node).trim();
        out.push({
          field: at.join('.'),
          message: `${quote(n)} has no unit: write "${n}s" for seconds, "${n}m" for minutes or "${n}ms" (a bare number meant milliseconds)`,
        });
      }
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const [head, ...tail] = rest;
    if (head === '*') {
      if (Array.isArray(node)) node.slice(0, 1000).forEach((n, i) => visit(n, tail, [...at, String(i)]));
      return;
    }
    if (Object.prototype.hasOwnProperty.call(node, head)) {
      visit((node as Record<string, unknown>)[head], tail, [...at, head]);
    }
  };
  for (const p of PLAN_DURATION_PATHS) visit(doc, p, []);
  return out;
}
